"""The shape of `issue check`'s findings: a `Rule` (code, severity, threshold, one line of doc)
and the `Finding`s it makes, shared by the check modules (`check`, `accessibility`); the registry
of every rule is `check.RULES`."""

from __future__ import annotations

from dataclasses import dataclass

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Rule:
    """One kind of finding. Its findings have `severity`, or ERROR past `limit` where it has one;
    `threshold` and `limit` are in `unit`, and a rule with `below` finds values under them."""

    code: str
    severity: str
    doc: str
    threshold: int | None = None
    limit: int | None = None
    unit: str = ""
    below: bool = False
    browser: bool = False  # needs Chromium (`issue check` runs it unless --no-browser)

    def threshold_text(self) -> str:
        """The threshold as docs/checks.md writes it, e.g. "over 78 characters; error over 150"."""
        if self.threshold is None:
            return ""
        text = f"{'under' if self.below else 'over'} {self.threshold} {self.unit}"
        return text + (f"; error over {self.limit} {self.unit}" if self.limit is not None else "")

    def finding(self, message: str, where: str, past_limit: bool = False) -> Finding:
        return Finding(ERROR if past_limit else self.severity, self.code, message, where)


@dataclass(frozen=True)
class Finding:
    severity: str  # ERROR or WARNING
    code: str
    message: str
    where: str


def describe(tag: str, attributes) -> str:
    """`<img src="https://...">`: an element by its tag and its most telling attribute."""
    for name in ("id", "class", "href", "src"):
        value = attributes.get(name)
        if value:
            shown = value if len(value) <= 40 else value[:39] + "\u2026"
            return f'<{tag} {name}="{shown}">'
    return f"<{tag}>"
