"""How long who-clicked-what is kept: until the issue's reporting window closes.

The window of an issue opens with its first send and lasts `[tracking] window_days`. When it has
closed, and unless `[tracking] mode = "per-subscriber"`, each event keeps its verdict, its link,
its time and its edition (its journal row's, for the reports by edition), and the delivery and
subscriber ids are dropped: the clicker becomes a number drawn
at random per issue, which still counts unique clickers but leads to no one. Closing runs when
`serve` starts, while it runs at the moment each issue's window ends (`seconds_to_next_close`;
at least every RECHECK_SECONDS, so that a send started meanwhile is seen), and before every
report; it deletes with the database's secure erasure (the same as `subscribers remove`), so the
ids leave the files too.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update

from ..config import Workspace
from ..db import Database, utcnow
from ..delivery.models import Send
from .events import classified_events
from .models import TrackingEvent

_FREEZE = (update(TrackingEvent).where(TrackingEvent.id == bindparam("b_id"))
           .values(verdict=bindparam("b_verdict"), clicker=bindparam("b_clicker"),
                   edition=bindparam("b_edition"), delivery_id=None, subscriber_id=None))


RECHECK_SECONDS = 3600.0  # the longest `serve` waits between two looks at the windows
SOONEST_SECONDS = 1.0     # the shortest: a window that just ended is closed, not spun on


def window_end(ws: Workspace, first_sent: datetime) -> datetime:
    return first_sent + timedelta(days=ws.config.tracking.window_days)


def seconds_to_next_close(ws: Workspace, db: Database, now: datetime | None = None) -> float | None:
    """How long until the next issue's window ends (at most RECHECK_SECONDS); None when windows
    are never closed (`mode = "per-subscriber"`)."""
    if ws.config.tracking.mode == "per-subscriber":
        return None
    now = now or utcnow()
    cutoff = now - timedelta(days=ws.config.tracking.window_days)
    with db.reader() as session:
        first = select(func.min(Send.started_at).label("first")).group_by(Send.issue_id).subquery()
        next_first = session.scalar(select(func.min(first.c.first)).where(first.c.first > cutoff))
    if next_first is None:
        return RECHECK_SECONDS
    wait = (window_end(ws, next_first) - now).total_seconds()
    return min(RECHECK_SECONDS, max(SOONEST_SECONDS, wait))


def close_windows(ws: Workspace, db: Database, now: datetime | None = None) -> list[str]:
    """Anonymise the events of every issue whose window has closed; returns those issues."""
    if ws.config.tracking.mode == "per-subscriber":
        return []
    cutoff = (now or utcnow()) - timedelta(days=ws.config.tracking.window_days)
    with db.reader() as session:
        started = select(Send.issue_id).group_by(Send.issue_id).having(func.min(Send.started_at) <= cutoff)
        issues = list(session.scalars(select(TrackingEvent.issue_id).distinct().where(
            TrackingEvent.issue_id.in_(started), TrackingEvent.delivery_id.is_not(None))))
    for issue_id in issues:
        with db.erasing() as session:
            events = classified_events(session, issue_id)
            clickers = sorted({event.clicker for event in events})
            numbers = random.SystemRandom().sample(range(1, len(clickers) + 1), len(clickers))
            anonymous = dict(zip(clickers, numbers, strict=True))
            session.connection().execute(_FREEZE, [{"b_id": e.id, "b_verdict": e.verdict, "b_edition": e.edition,
                                       "b_clicker": anonymous[e.clicker]} for e in events])
    return issues
