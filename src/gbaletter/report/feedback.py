"""What happened after the SMTP server accepted a message: later bounces, complaints, unsubscribes.

Later bounces, complaints and mailed unsubscribes are what `gbaletter bounces process` recorded
for the issue (`feedback.records.issue_feedback`, one feedback event per report); one-click and
page unsubscribes are the web pages' subscriber events, whose reason names the issue.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..feedback.models import Kind
from ..feedback.records import issue_feedback
from ..subscribers.models import Status, SubscriberEvent

# (actor prefix, kind): web/app.py's one-click POST and the unsubscribe page's button
WEB_UNSUBSCRIBES = (("web:one-click", "one-click"), ("web:unsubscribe-page", "page"))
KINDS = ("one-click", "page", "mailto", "other")


def _web_kind(actor: str) -> str:
    for prefix, kind in WEB_UNSUBSCRIBES:
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
            SubscriberEvent.new_status == Status.UNSUBSCRIBED, SubscriberEvent.actor.startswith("web:"),
            SubscriberEvent.reason.contains(issue_id, autoescape=True))):
        counts[_web_kind(actor)] += 1
    counts["mailto"] = issue_feedback(session, issue_id)[Kind.UNSUBSCRIBE.value]
    return {kind: counts[kind] for kind in KINDS}
