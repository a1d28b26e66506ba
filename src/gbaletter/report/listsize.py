"""How many active subscribers the list had at given moments, from the subscribers' history.

A subscriber's status at a moment is the `old_status` of their first status event after it (the
status they left), or their status now when nothing changed since; before `created_at` they were
not on the list. Erased subscribers are gone from the history too, as they are from everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..subscribers.models import Status, Subscriber, SubscriberEvent


def active_at(session: Session, moment: datetime) -> int:
    """Active subscribers at `moment` (one query)."""
    left = (select(SubscriberEvent.old_status)
            .where(SubscriberEvent.subscriber_id == Subscriber.id, SubscriberEvent.at > moment)
            .order_by(SubscriberEvent.at, SubscriberEvent.id).limit(1)
            .correlate(Subscriber).scalar_subquery())
    status_then = func.coalesce(left, Subscriber.status)
    query = (select(func.count()).select_from(Subscriber)
             .where(Subscriber.created_at <= moment, status_then == Status.ACTIVE))
    return session.scalar(query) or 0


def active_over_time(session: Session, moments: Sequence[datetime]) -> list[int]:
    return [active_at(session, moment) for moment in moments]
