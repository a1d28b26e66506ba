"""Choosing content for an issue: a time range in the workspace timezone and a set of tags."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from ..errors import GbaletterError
from .dates import date_range, iso_week_range


class Dated(Protocol):
    """Posts and briefs (frozen dataclasses, hence read-only properties here)."""

    @property
    def date(self) -> datetime: ...

    @property
    def tags(self) -> tuple[str, ...]: ...


T = TypeVar("T", bound=Dated)


@dataclass(frozen=True)
class Window:
    """[start, end) in the workspace timezone, with the label issue ids are made from."""

    start: datetime
    end: datetime
    label: str

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def window(tz: ZoneInfo, week: str | None = None, start: date | None = None,
           end: date | None = None) -> Window:
    """A window from an ISO week, or from two dates (both included)."""
    try:
        if week:
            if start or end:
                raise ValueError("give either a week or a date range, not both")
            first, after = iso_week_range(week, tz)
            return Window(first, after, week.upper())
        if start and end:
            first, after = date_range(start, end, tz)
            return Window(first, after, f"{start:%Y-%m-%d}_{end:%Y-%m-%d}")
    except ValueError as exc:
        raise GbaletterError(str(exc)) from None
    raise GbaletterError("give a week (--week 2019-W26) or a date range (--from and --to)")


def matching(items: Iterable[T], span: Window | None, tags: Sequence[str]) -> list[T]:
    """Items dated inside `span` (if any) carrying any of `tags` (all items when no tags)."""
    wanted = {t.lower() for t in tags}
    return [item for item in items
            if (span is None or span.contains(item.date.astimezone(span.start.tzinfo)))
            and (not wanted or wanted.intersection(item.tags))]
