"""Just enough CSS reading for the email checks: a style attribute's declarations and the plain
rules of a `<style>` block, with the line each starts on.

Email CSS is small and simple (MJML's output and a template's own rules), so a few lines of
splitting do here what a full CSS parser would do in a hundred times the time; the checks read
several hundred style attributes on every build.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_COMMENT = re.compile(r"/\*.*?\*/", re.S)


@dataclass(frozen=True)
class Rule:
    selectors: tuple[str, ...]
    declarations: tuple[tuple[str, str], ...]
    line: int  # counted from the start of the block, first line 0


def _split(text: str, separator: str) -> list[str]:
    """`text` split at `separator`, except inside parentheses (url(...)) or quotes."""
    if not any(char in text for char in "()'\""):
        return text.split(separator)  # most style attributes: no need to look at every character
    parts, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def declarations(style: str) -> tuple[tuple[str, str], ...]:
    """(property in lower case, value) pairs of a declaration list like a style attribute's."""
    pairs = []
    for part in _split(_COMMENT.sub("", style), ";"):
        name, colon, value = part.partition(":")
        if colon and name.strip():
            pairs.append((name.strip().lower(), value.strip()))
    return tuple(pairs)


def _block_end(css: str, opening: int) -> int:
    """The index just past the `}` that closes the `{` at `opening`."""
    depth = 0
    for index in range(opening, len(css)):
        if css[index] == "{":
            depth += 1
        elif css[index] == "}":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(css)


def style_rules(css: str) -> Iterator[Rule]:
    """The rules of a style sheet that apply everywhere: those inside @media (or any other
    at-rule block) are skipped, because they only apply where the query matches."""
    css = _COMMENT.sub(lambda match: "\n" * match.group(0).count("\n"), css)
    position = 0
    while (opening := css.find("{", position)) >= 0:
        prelude = css[position:opening].rsplit(";", 1)[-1]  # drops @import/@charset statements
        end = _block_end(css, opening)
        if not prelude.strip().startswith("@"):
            line = css.count("\n", 0, opening - len(prelude.lstrip()))
            selectors = tuple(s.strip() for s in _split(prelude, ",") if s.strip())
            yield Rule(selectors, declarations(css[opening + 1:end - 1]), line)
        position = end
