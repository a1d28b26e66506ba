"""What happened after the SMTP server accepted a message: later bounces, complaints, unsubscribes.

Later bounces and complaints are what `gbaletter bounces process` recorded, verified, for the
issue (`feedback.records.issue_feedback_by_edition`, one feedback event per report). Unsubscribes are the
subscriber events about the issue (their `issue_id`) that made someone unsubscribed, told apart by
who made them (`delivery.effects`: the web's one-click and page, the bounce processor's mailto).
Each is counted under the edition of the journal row it is about (docs/editions.md).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ..delivery.effects import BOUNCES_ACTOR, Cause, web_actor
from ..delivery.journal import edition_of
from ..delivery.models import Delivery
from ..feedback.models import Kind
from ..feedback.records import issue_feedback_by_edition
from ..subscribers.models import Status, SubscriberEvent

# actor -> kind: the web's one-click POST and the unsubscribe page's button, the mailto read by
# `bounces process`; anyone else (an admin, an import) is "other"
UNSUBSCRIBE_ACTORS = {web_actor(Cause.ONE_CLICK): "one-click", web_actor(Cause.UNSUBSCRIBE_PAGE): "page",
                      BOUNCES_ACTOR: "mailto"}
KINDS = ("one-click", "page", "mailto", "other")


def later_feedback(session: Session, issue_id: str) -> dict[str, tuple[int, int]]:
    """edition -> (hard bounces reported after acceptance, complaints) for the issue, each by the
    edition of the journal row it is about; only the editions something came back from."""
    return {edition: (counts[Kind.HARD_BOUNCE.value], counts[Kind.COMPLAINT.value])
            for edition, counts in issue_feedback_by_edition(session, issue_id).items()}


def unsubscribes(session: Session, issue_id: str) -> dict[str, dict[str, int]]:
    """edition -> unsubscribes caused by the issue, by kind (KINDS): the edition is that of the
    reader's journal row for the issue (`journal.edition_of`); only the editions with any."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for edition, actor, number in session.execute(
            select(Delivery.edition, SubscriberEvent.actor, func.count())
            .outerjoin(Delivery, and_(Delivery.issue_id == SubscriberEvent.issue_id,
                                      Delivery.subscriber_id == SubscriberEvent.subscriber_id))
            .where(SubscriberEvent.issue_id == issue_id, SubscriberEvent.new_status == Status.UNSUBSCRIBED)
            .group_by(Delivery.edition, SubscriberEvent.actor)):
        counts[edition_of(edition)][UNSUBSCRIBE_ACTORS.get(actor, "other")] += number
    return {edition: {kind: by_kind[kind] for kind in KINDS} for edition, by_kind in counts.items()}
