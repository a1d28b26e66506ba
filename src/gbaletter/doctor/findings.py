"""A finding of `gbaletter doctor`: what was checked, how it went, and the exact fix."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARNING, ERROR = "ok", "warning", "error"


@dataclass(frozen=True)
class Finding:
    area: str      # settings, smtp, dns, web, bounces
    check: str     # a short stable name: spf, dkim, dmarc, mx, alignment, ...
    status: str    # ok, warning or error
    message: str   # what was found, one line
    fix: str = ""  # what to do (the DNS record to publish), one line; empty when ok

    def line(self) -> str:
        text = f"{self.status:<7} {self.area:<8} {self.message}"
        return f"{text}; fix: {self.fix}" if self.fix else text


def ok(area: str, check: str, message: str) -> Finding:
    return Finding(area, check, OK, message)


def error(area: str, check: str, message: str, fix: str) -> Finding:
    return Finding(area, check, ERROR, message, fix)


def warning(area: str, check: str, message: str, fix: str) -> Finding:
    return Finding(area, check, WARNING, message, fix)
