"""What a subscriber's name and tags may be: plain checks, free of SQLAlchemy, so that the CSV
parser process (`parsing`) starts without the database stack."""

from __future__ import annotations

import re

from ..errors import GbaletterError

MAX_TAG_LENGTH = 100
MAX_NAME_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_tag(tag: str) -> str:
    """A tag as stored: trimmed and lower-cased; any text but commas and control characters."""
    name = tag.strip().lower()
    if not name:
        raise GbaletterError("empty tag")
    if "," in name or _CONTROL.search(name):
        raise GbaletterError(f"invalid tag {tag!r}: commas and control characters are not allowed")
    if len(name) > MAX_TAG_LENGTH:
        raise GbaletterError(f"invalid tag {tag[:20]!r}...: longer than {MAX_TAG_LENGTH} characters")
    return name


def normalize_name(name: str) -> str:
    """A person's name as stored: trimmed, on one line (it may end up in a To: header)."""
    name = name.strip()
    if not name.isprintable() and _CONTROL.search(name):  # printable: no control characters
        raise GbaletterError(f"invalid name {name!r}: line breaks and control characters are not allowed")
    if len(name) > MAX_NAME_LENGTH:
        raise GbaletterError(f"invalid name {name[:20]!r}...: longer than {MAX_NAME_LENGTH} characters")
    return name
