"""What happened after the SMTP server accepted a message: later bounces, complaints, unsubscribes.

Bounces after acceptance, complaints and mailed unsubscribes come from bounce processing's
`feedback_events` (`gbaletter.feedback.process.issue_feedback`, attributed to the issue by VERP);
a mailed unsubscribe names only the subscriber, so it counts for the last issue they were sent
before it arrived. Unsubscribes on the web come from `subscriber_events`, kind
by actor: `web:one-click` (the RFC 8058 POST) and `web:unsubscribe-page` (the button); the
feedback processor's own events are counted from its table instead, so none is counted twice.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..delivery.models import Delivery
from ..feedback.models import FeedbackEvent, Kind
from ..feedback.process import ACTOR as FEEDBACK_ACTOR
from ..feedback.process import issue_feedback
from ..subscribers.models import Status, SubscriberEvent

WEB_UNSUBSCRIBE_KINDS = (("web:one-click", "one-click"), ("web:unsubscribe-page", "page"))
KINDS = ("one-click", "page", "mailto", "other")


def unsubscribe_kind(actor: str) -> str:
    for prefix, kind in WEB_UNSUBSCRIBE_KINDS:
        if actor.startswith(prefix):
            return kind
    return "other"


def later_feedback(session: Session, issue_id: str) -> tuple[int, int]:
    """(hard bounces reported after acceptance, complaints) for the issue."""
    counts = issue_feedback(session, issue_id)
    return counts[Kind.HARD_BOUNCE.value], counts[Kind.COMPLAINT.value]


def unsubscribes(session: Session, issue_id: str) -> dict[str, int]:
    """Unsubscribes caused by the issue, by kind (KINDS)."""
    counts: Counter[str] = Counter()
    for actor in session.scalars(select(SubscriberEvent.actor).where(
            SubscriberEvent.new_status == Status.UNSUBSCRIBED, SubscriberEvent.actor != FEEDBACK_ACTOR,
            SubscriberEvent.reason.contains(issue_id, autoescape=True))):
        counts[unsubscribe_kind(actor)] += 1
    counts["mailto"] = issue_feedback(session, issue_id)[Kind.UNSUBSCRIBE.value] + _mailed_after(session, issue_id)
    return {kind: counts[kind] for kind in KINDS}


def _mailed_after(session: Session, issue_id: str) -> int:
    """Mailed unsubscribes that name no issue (the List-Unsubscribe address names the subscriber
    only), counted for the issue their sender was sent last before the mail was processed."""
    mailed = session.execute(
        select(FeedbackEvent.subscriber_id, FeedbackEvent.processed_at)
        .join(Delivery, Delivery.subscriber_id == FeedbackEvent.subscriber_id)
        .where(FeedbackEvent.kind == Kind.UNSUBSCRIBE.value, FeedbackEvent.issue_id.is_(None),
               Delivery.issue_id == issue_id)).all()
    counted = 0
    for subscriber_id, processed_at in mailed:
        last = session.scalar(select(Delivery.issue_id).where(
            Delivery.subscriber_id == subscriber_id, Delivery.sent_at.is_not(None),
            Delivery.sent_at <= processed_at).order_by(Delivery.sent_at.desc()).limit(1))
        counted += last == issue_id
    return counted
