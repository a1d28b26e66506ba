"""How stories are labelled in the email: the kicker over a headline and a brief's lead-in.

Pure functions of a story's data and the workspace's settings, used by the templates (through
`PostView.kicker` and the `lead_in` filter); docs/design.md has the rules as a table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# What sources end a lead-in with, in any mix: colons (ASCII and full width), dashes (hyphen, en,
# em, full-width and box-drawing), full stops and the spaces around them.
_TRAILING_SEPARATORS = re.compile(r"[\s:\uff1a\-\u2013\u2014\u2015\u2500\uff0d.\u3002]+$")
# A lead-in ending with a question or an exclamation needs no separator after it.
_OWN_ENDING = ("?", "!", "\uff1f", "\uff01")


def kicker(tags: Iterable[str], kickers: Mapping[str, str]) -> str:
    """The section name of the first `[kickers]` entry, in the file's order, whose tag the story
    carries ('' when none does): the file's order is the desk's priority, not the tags' order."""
    carried = {tag.lower() for tag in tags}
    return next((name for tag, name in kickers.items() if tag in carried), "")


def lead_in(lead: str, separator: str = ":") -> str:
    """`lead` ending with exactly one `separator`, whatever the source ended it with ('Smart
    ports —', 'Smart ports:', '智慧港口：' all end the same); a question or an exclamation keeps
    its own mark instead."""
    bare = _TRAILING_SEPARATORS.sub("", lead)
    if not bare:
        return lead.strip()
    return bare if bare.endswith(_OWN_ENDING) else bare + separator
