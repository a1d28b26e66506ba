"""Chart labels that fit: wrapped and, past the last line, ellipsized, always between words.

Widths are display cells (`rich.cells.cell_len`: a Chinese character takes two), so a Chinese
title gets half the characters of an English one. Chinese and Japanese have no spaces, so a line
may break beside any wide character, except before closing punctuation (，。」) or after opening
punctuation (「（), which stay with their neighbour. Inside a word a line breaks only after a
`/` or a `-` (URLs, compound words); a word wider than a whole line is kept whole, never cut.
"""

from __future__ import annotations

import unicodedata

from rich.cells import cell_len

ELLIPSIS = "…"
_NO_LINE_START = frozenset("，。、；：！？）」』】》〉”’,.;:!?)]}…·%")
_NO_LINE_END = frozenset("（「『【《〈“‘([{")
_TRAILING = " ,;:/-–—，、；：（「『【《〈“‘([{"  # taken off before the ellipsis


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _may_break_before(before: str, char: str) -> bool:
    if char.isspace() or char in _NO_LINE_START or before in _NO_LINE_END:
        return False
    return before.isspace() or before in "/-" or _wide(before) or _wide(char)


def pieces(text: str) -> list[str]:
    """`text` cut where a line may break; each piece keeps the spaces that follow it."""
    result: list[str] = []
    start = 0
    for index in range(1, len(text)):
        if _may_break_before(text[index - 1], text[index]):
            result.append(text[start:index])
            start = index
    if text:
        result.append(text[start:])
    return result


def _width(units: list[str]) -> int:
    return cell_len("".join(units).rstrip())


def _ellipsized(units: list[str], width: int) -> str:
    """The line's pieces, as many as fit with the ellipsis (at least one), then the ellipsis."""
    while len(units) > 1 and _width(units) + cell_len(ELLIPSIS) > width:
        units = units[:-1]
    return "".join(units).rstrip(_TRAILING) + ELLIPSIS


def fit_label(text: str, width: int = 30, lines: int = 2) -> str:
    """`text` on at most `lines` lines of `width` cells, joined by newlines; what does not fit ends
    in an ellipsis after the last whole word (or character, in Chinese) that does."""
    line: list[str] = []
    done: list[str] = []
    for unit in pieces(" ".join(text.split())):
        if not line or _width([*line, unit]) <= width:
            line.append(unit)
            continue
        if len(done) == lines - 1:
            return "\n".join([*done, _ellipsized(line, width)])
        done.append("".join(line).rstrip())
        line = [unit]
    return "\n".join([*done, "".join(line).rstrip()]) if line else ""
