"""Text measured as a terminal or a mail client shows it: by display width, not by characters.

A Chinese character fills two columns (Unicode East Asian Width "W" or "F"), so a 40-character
Chinese subject is as wide as an 80-character English one. `display_width` is the one
measurement (subject and preheader checks, file-name slugs); `wrap` fills lines by it, breaking
Latin text at spaces and Chinese text between any two characters, except that a line never starts
with closing punctuation (，。、」) and never ends with opening punctuation (「（), the usual line
breaking rule of Chinese and Japanese typesetting (kinsoku).
"""

from __future__ import annotations

import unicodedata

# No line starts with these (they close what precedes them) ...
CLOSING = frozenset("、。，．：；！？）」』】〕〉》〙〗〞’”…‥・ー々〻ゝゞヽヾ"
                    "ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ,.;:!?)]}%")
# ... and no line ends with these (they open what follows).
OPENING = frozenset("（「『【〔〈《〘〖〝‘“([{")


def char_width(char: str) -> int:
    """Columns one character takes: 2 for wide (CJK), 0 for combining marks, else 1."""
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return 2
    return 0 if unicodedata.combining(char) else 1


def display_width(text: str) -> int:
    """Columns `text` takes on one line."""
    return sum(map(char_width, text))


def truncate(text: str, width: int) -> str:
    """The longest start of `text` no wider than `width` columns."""
    used = 0
    for index, char in enumerate(text):
        used += char_width(char)
        if used > width:
            return text[:index]
    return text


def _pieces(paragraph: str) -> list[tuple[str, bool]]:
    """(piece, space before it): the units a line may break between. A run of narrow characters
    is one piece (a word); each wide character is its own; punctuation is glued to its side."""
    pieces: list[list] = []  # [text, space before, still a narrow word]
    space = False
    for char in paragraph:
        if char.isspace():
            space = bool(pieces)
            continue
        wide = char_width(char) == 2
        if pieces and not space and not wide and pieces[-1][2]:
            pieces[-1][0] += char
        else:
            pieces.append([char, space, not wide])
        space = False
    glued: list[tuple[str, bool]] = []
    for text, space_before, _ in pieces:
        if glued and not space_before and (text[0] in CLOSING or glued[-1][0][-1] in OPENING):
            glued[-1] = (glued[-1][0] + text, glued[-1][1])
        else:
            glued.append((text, space_before))
    return glued


def _fill(paragraph: str, width: int, indent: str) -> str:
    lines: list[str] = []
    line, used, limit = "", 0, width
    for piece, space_before in _pieces(paragraph):
        joined = (" " if space_before and line else "") + piece
        if line and used + display_width(joined) > limit:
            lines.append(line)
            line, used = indent + piece, display_width(indent + piece)
            continue
        line += joined
        used += display_width(joined)
    if line:
        lines.append(line)
    return "\n".join(lines)


def wrap(text: str, width: int = 72, indent: str = "") -> str:
    """Each paragraph (blank-line separated) on lines at most `width` columns wide where it can
    be (a word wider than the line keeps its own line), later lines starting with `indent`."""
    return "\n\n".join(_fill(paragraph, width, indent) for paragraph in str(text).split("\n\n"))
