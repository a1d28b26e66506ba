"""Subscriber-specific values in a built issue, left as `{{name}}`-style markers until send time.

The build writes the markers; the sender fills them in for each subscriber with a cheap split and
join. Content can never produce a marker by accident: the renderer breaks up any `{{` it outputs.
"""

from __future__ import annotations

import re

# What templates write. `click_token` is not among them: only the send-time link rewrite
# (`issue.links.track`) writes it, inside the tracked URLs, once per issue.
TEMPLATE_NAMES = ("name", "email", "unsubscribe_url", "preferences_url", "view_url")
NAMES = (*TEMPLATE_NAMES, "click_token")
PATTERN = re.compile(r"\{\{(" + "|".join(NAMES) + r")\}\}")


def marker(name: str) -> str:
    if name not in NAMES:
        raise KeyError(name)
    return "{{" + name + "}}"


def defuse(text: str) -> str:
    """Text that cannot contain a marker: a zero-width space goes between the two braces."""
    return text.replace("{{", "{\u200b{")
