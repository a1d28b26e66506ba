"""What happened after the SMTP server accepted a message: later bounces, complaints, unsubscribes.

Later bounces and complaints are what `gbaletter bounces process` recorded, verified, for the
issue (`feedback.records.issue_feedback`, one feedback event per report). Unsubscribes are the
subscriber events about the issue (their `issue_id`) that made someone unsubscribed, told apart by
who made them (`delivery.effects`: the web's one-click and page, the bounce processor's mailto).
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..delivery.effects import BOUNCES_ACTOR, Cause, web_actor
from ..feedback.models import Kind
from ..feedback.records import issue_feedback
from ..subscribers.models import Status, SubscriberEvent

# actor -> kind: the web's one-click POST and the unsubscribe page's button, the mailto read by
# `bounces process`; anyone else (an admin, an import) is "other"
UNSUBSCRIBE_ACTORS = {web_actor(Cause.ONE_CLICK): "one-click", web_actor(Cause.UNSUBSCRIBE_PAGE): "page",
                      BOUNCES_ACTOR: "mailto"}
KINDS = ("one-click", "page", "mailto", "other")


def later_feedback(session: Session, issue_id: str) -> tuple[int, int]:
    """(hard bounces reported after acceptance, complaints) for the issue."""
    counts = issue_feedback(session, issue_id)
    return counts[Kind.HARD_BOUNCE.value], counts[Kind.COMPLAINT.value]


def unsubscribes(session: Session, issue_id: str) -> dict[str, int]:
    """Unsubscribes caused by the issue, by kind (KINDS)."""
    counts: Counter[str] = Counter()
    for actor, number in session.execute(select(SubscriberEvent.actor, func.count()).where(
            SubscriberEvent.issue_id == issue_id, SubscriberEvent.new_status == Status.UNSUBSCRIBED)
            .group_by(SubscriberEvent.actor)):
        counts[UNSUBSCRIBE_ACTORS.get(actor, "other")] += number
    return {kind: counts[kind] for kind in KINDS}
