"""What a scheduler does with a due schedule, and how a send time is read. No I/O here.

The table is for a pending schedule, and for one whose scheduler died mid-send (`send` is then
"resume", `miss` "report it incomplete"): either way, nothing goes out later than the window.

| the moment, against the schedule's time `at` | action |
| --- | --- |
| before `at`                                   | wait   |
| from `at` to `at + late_window` (included)    | send   |
| after `at + late_window`                      | miss: not sent, marked `missed`, reported |

A schedule is never sent late without a word: a scheduler that was down over the weekend must not
mail Friday's issue on Monday morning as if nothing happened.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ..errors import GbaletterError

TIME_FORMAT = "%Y-%m-%d %H:%M"  # what `--at` takes, in the workspace's timezone


class Action(enum.StrEnum):
    WAIT = "wait"
    SEND = "send"
    MISS = "miss"


def due_action(send_at: datetime, now: datetime, late_window: timedelta) -> Action:
    """The table above, for one schedule."""
    if now < send_at:
        return Action.WAIT
    if now <= send_at + late_window:
        return Action.SEND
    return Action.MISS


def local_label(moment: datetime, tz: ZoneInfo) -> str:
    """A moment as people read it in the workspace: '2026-12-04 08:00 HKT'."""
    return moment.astimezone(tz).strftime(f"{TIME_FORMAT} %Z")


def parse_send_time(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    """`--at` ('2026-12-04 08:00', wall time in `tz`) as an aware UTC moment after `now`."""
    try:
        wall = datetime.strptime(text.strip(), TIME_FORMAT)
    except ValueError:
        raise GbaletterError(f"--at {text!r}: not a time like 2026-12-04 08:00 (YYYY-MM-DD HH:MM, "
                             f"in {tz.key})") from None
    local = wall.replace(tzinfo=tz)
    moment = local.astimezone(UTC)
    if moment.astimezone(tz).replace(tzinfo=None) != wall:
        raise GbaletterError(f"--at {text!r}: that time does not exist in {tz.key} (the clocks "
                             "skip it); pick another")
    if moment <= now:
        raise GbaletterError(f"--at {text!r}: that is in the past (it is now "
                             f"{local_label(now, tz)}); a schedule must be in the future")
    return moment
