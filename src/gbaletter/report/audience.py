"""The list's size over time: active subscribers after every change, from the subscriber events.

A subscriber counts from the moment their row was made if they started active (their status
then is the first event's old status, or today's when nothing has changed it), and each status
event that leaves or reaches `active` moves the count by one (a confirmation, an unsubscribe, a
bounce, a complaint, a resubscribe); a pause is not a status change and does not count. A subscriber
removed with `subscribers remove` takes their row and events along, so they drop out of the past
too: the curve is the history of the people still on file.
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..subscribers.models import Status, Subscriber, SubscriberEvent

MAX_POINTS = 500  # past this many changes, the curve keeps each day's last count (in the workspace's zone)


def _changes(session: Session) -> list[tuple[datetime, int]]:
    first_old_status = (select(SubscriberEvent.old_status).where(SubscriberEvent.subscriber_id == Subscriber.id)
                        .order_by(SubscriberEvent.at, SubscriberEvent.id).limit(1).scalar_subquery())
    started_active = select(Subscriber.created_at).where(
        func.coalesce(first_old_status, Subscriber.status) == Status.ACTIVE)
    changes = [(at, 1) for at in session.scalars(started_active)]
    events = select(SubscriberEvent.at, SubscriberEvent.old_status, SubscriberEvent.new_status).where(
        or_(SubscriberEvent.old_status == Status.ACTIVE, SubscriberEvent.new_status == Status.ACTIVE))
    changes += [(at, (new == Status.ACTIVE) - (old == Status.ACTIVE)) for at, old, new in session.execute(events)]
    return sorted(changes)


def active_over_time(session: Session, now: datetime, tz: ZoneInfo) -> list[tuple[datetime, int]]:
    """(moment in `tz`, active subscribers from then on), oldest first, ending at `now`."""
    points: list[tuple[datetime, int]] = []
    active = 0
    for at, group in groupby(_changes(session), key=lambda change: change[0]):
        active += sum(delta for _, delta in group)
        points.append((at.astimezone(tz), active))
    if len(points) > MAX_POINTS:
        points = [list(day)[-1] for _, day in groupby(points, key=lambda point: point[0].date())]
    return [*points, (now.astimezone(tz), active)]
