"""What the bounce processor recorded, read back: per-issue counts and the unverified reports.

Only verified events count (docs/bounces.md): an unverified report is listed, with who it names,
so that an operator sees what was claimed and by whom, but it is in no rate or total.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..delivery.journal import edition_of
from ..delivery.models import Delivery
from ..subscribers.models import Subscriber
from .models import FeedbackEvent, Kind


def issue_feedback(session: Session, issue_id: str) -> dict[str, int]:
    """What came back after `issue_id` was sent, verified: feedback events per kind (for `issue
    status` and reports). Unmatched and unparsed messages name no issue, so they are not here."""
    totals: Counter[str] = Counter()
    for counts in issue_feedback_by_edition(session, issue_id).values():
        totals.update(counts)
    return {kind.value: totals[kind.value] for kind in Kind if not kind.left_in_mailbox}


def issue_feedback_by_edition(session: Session, issue_id: str) -> dict[str, dict[str, int]]:
    """`issue_feedback` by the edition of the journal row each event is about (`journal.edition_of`),
    for the reports by edition; only the editions something came back from."""
    found: dict[str, dict[str, int]] = {}
    for edition, kind, number in session.execute(
            select(Delivery.edition, FeedbackEvent.kind, func.count())
            .outerjoin(Delivery, Delivery.id == FeedbackEvent.delivery_id)
            .where(FeedbackEvent.issue_id == issue_id, FeedbackEvent.verified)
            .group_by(Delivery.edition, FeedbackEvent.kind)):
        counts = found.setdefault(edition_of(edition), {k.value: 0 for k in Kind if not k.left_in_mailbox})
        if kind in counts:
            counts[kind] += number
    return found


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
