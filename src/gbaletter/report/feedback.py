"""What happened after the SMTP server accepted a message: later bounces, complaints, unsubscribes.

Bounce and complaint processing (`gbaletter.feedback`, another branch) is not merged yet; until it
is, `later_feedback` reads subscriber_events: a change to bounced or complained made by anything
but the sender (which records SMTP-time bounces in the journal), whose reason names the issue.
This is the one function to switch to the feedback events table when it lands.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..subscribers.models import Status, SubscriberEvent

SENDER_ACTOR = "sender"  # delivery.journal records SMTP-time bounces under this actor
# (actor prefix, kind): web/app.py's one-click POST and page button; a mailto: processor's actor
UNSUBSCRIBE_KINDS = (("web:one-click", "one-click"), ("web:unsubscribe-page", "page"), ("mailto", "mailto"))
KINDS = ("one-click", "page", "mailto", "other")


def unsubscribe_kind(actor: str) -> str:
    for prefix, kind in UNSUBSCRIBE_KINDS:
        if actor.startswith(prefix):
            return kind
    return "other"


def _naming(issue_id: str):
    return SubscriberEvent.reason.contains(issue_id, autoescape=True)


def later_feedback(session: Session, issue_id: str) -> tuple[int, int]:
    """(bounces after acceptance, complaints) for the issue."""
    found = dict(session.execute(
        select(SubscriberEvent.new_status, func.count())
        .where(SubscriberEvent.new_status.in_([Status.BOUNCED, Status.COMPLAINED]),
               SubscriberEvent.actor != SENDER_ACTOR, _naming(issue_id))
        .group_by(SubscriberEvent.new_status)).all())
    return found.get(Status.BOUNCED, 0), found.get(Status.COMPLAINED, 0)


def unsubscribes(session: Session, issue_id: str) -> dict[str, int]:
    """Unsubscribes caused by the issue, by kind (KINDS)."""
    counts: Counter[str] = Counter()
    for actor in session.scalars(select(SubscriberEvent.actor).where(
            SubscriberEvent.new_status == Status.UNSUBSCRIBED, _naming(issue_id))):
        counts[unsubscribe_kind(actor)] += 1
    return {kind: counts[kind] for kind in KINDS}
