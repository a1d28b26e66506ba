"""Dates as editors write them, made timezone-aware in the workspace timezone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, UTC
from zoneinfo import ZoneInfo

# Content is dated within these years: beyond them a week, a time zone or a conversion to UTC
# leaves what Python's dates can hold (year 1 at +14:00, the week after 9999-W52).
FIRST_YEAR, LAST_YEAR = 1900, 9998


def in_range(moment: datetime, shown: object) -> datetime:
    """`moment`, if its year is within FIRST_YEAR..LAST_YEAR; else ValueError naming `shown`."""
    try:
        moment.astimezone(UTC)  # year 1 at +14:00 is not a date in UTC
        fits = FIRST_YEAR <= moment.year <= LAST_YEAR
    except OverflowError:
        fits = False
    if not fits:
        raise ValueError(f"'{shown}' is out of range (dates are in the years {FIRST_YEAR} to {LAST_YEAR})")
    return moment


def to_datetime(value: object, tz: ZoneInfo) -> datetime:
    """An aware datetime from a YAML value (datetime, date or ISO string); naive means `tz`.

    Raises ValueError with a short reason for anything else.
    """
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime.combine(value, time())
    elif isinstance(value, str):
        text = value.strip()
        try:
            result = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM+08:00)") from None
    else:
        raise ValueError(f"{value!r} is not a date")
    if result.tzinfo is None:
        result = result.replace(tzinfo=tz)
    return in_range(result, value)


def iso_week_range(week: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of an ISO week such as 2019-W26, Monday 00:00 to Monday 00:00 in `tz`."""
    try:
        year, _, number = week.upper().partition("-W")
        monday = date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        raise ValueError(f"'{week}' is not an ISO week (use YYYY-Www, e.g. 2019-W26)") from None
    start = in_range(datetime.combine(monday, time(), tzinfo=tz), week)
    return start, start + timedelta(days=7)


def date_range(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in `tz`: both days included."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    first = in_range(datetime.combine(start, time(), tzinfo=tz), start)
    last = in_range(datetime.combine(end, time(), tzinfo=tz), end)
    return first, last + timedelta(days=1)  # wall-clock arithmetic: midnight the day after

