"""What the bounce processor recorded, read back: per-issue counts and the unverified reports.

Only verified events count (docs/bounces.md): an unverified report is listed, with who it names,
so that an operator sees what was claimed and by whom, but it is in no rate or total.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..subscribers.models import Subscriber
from .models import FeedbackEvent, Kind


def issue_feedback(session: Session, issue_id: str) -> dict[str, int]:
    """What came back after `issue_id` was sent, verified: feedback events per kind (for `issue
    status` and reports). Unmatched and unparsed messages name no issue, so they are not here."""
    counts = dict(session.execute(select(FeedbackEvent.kind, func.count()).where(
        FeedbackEvent.issue_id == issue_id, FeedbackEvent.verified).group_by(FeedbackEvent.kind)).all())
    return {kind.value: counts.get(kind.value, 0) for kind in Kind if not kind.left_in_mailbox}


@dataclass(frozen=True)
class UnverifiedReport:
    """A report that named a subscriber without proof that it is about our message."""

    arrived_at: datetime
    issue_id: str            # the last issue sent to the subscriber when it was read
    email: str               # '' when the subscriber was erased since
    kind: str
    status: str
    reporting_mta: str
    diagnostic: str


def unverified_reports(session: Session, *, issue_id: str | None = None, subscriber_id: int | None = None,
                       limit: int = 20) -> list[UnverifiedReport]:
    """The latest unverified reports naming a subscriber, of one issue or about one subscriber."""
    query = (select(FeedbackEvent.arrived_at, FeedbackEvent.issue_id, Subscriber.email, FeedbackEvent.kind,
                    FeedbackEvent.status, FeedbackEvent.reporting_mta, FeedbackEvent.diagnostic)
             .outerjoin(Subscriber, Subscriber.id == FeedbackEvent.subscriber_id)
             .where(~FeedbackEvent.verified, FeedbackEvent.issue_id.is_not(None))
             .order_by(FeedbackEvent.arrived_at.desc(), FeedbackEvent.id.desc()).limit(limit))
    if issue_id is not None:
        query = query.where(FeedbackEvent.issue_id == issue_id)
    if subscriber_id is not None:
        query = query.where(FeedbackEvent.subscriber_id == subscriber_id)
    return [UnverifiedReport(at, issue or "", email or "", kind, status, mta, diagnostic)
            for at, issue, email, kind, status, mta, diagnostic in session.execute(query)]
