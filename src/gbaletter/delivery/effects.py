"""What happens to a subscriber after a message, decided in one place: the cause table.

Every status change that a message we sent, or a reader's answer to it, makes goes through
`apply`: the send (a hard bounce at SMTP time, and the circuit breaker undoing its streak's
bounces), the bounce processor (hard bounces, soft bounces at the N-of-M limit, complaints, mailed
unsubscribes) and the web pages (one-click and page unsubscribes). One vocabulary runs from the
server's reply to the subscriber's status:

    reply --outcome.decide--> verdict --outcome.EFFECTS--> row state --ROW_CAUSES--> cause --RULES--> status

and a report read later from the bounce mailbox joins it at the cause (`feedback.process.CAUSES`).
Each change is one subscriber event carrying the issue it is about, which reports count by.
docs/outcomes.md has the table ("What happens to a subscriber"); tests/test_effects.py one test
a row, without sockets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from ..config import BouncesSettings
from ..subscribers.models import Status, Subscriber
from .models import State


class Cause(enum.StrEnum):
    """Why a subscriber's status changes after a message."""

    HARD_BOUNCE = "hard-bounce"            # at SMTP time, or a verified DSN read later
    SOFT_BOUNCES = "soft-bounces"          # soft bounces in `soft_bounce_limit` of the last issues
    COMPLAINT = "complaint"                # a verified feedback report (ARF): marked as spam
    ONE_CLICK = "one-click"                # RFC 8058 POST from the mail client
    UNSUBSCRIBE_PAGE = "unsubscribe-page"  # the button on the unsubscribe page
    UNSUBSCRIBE_MAIL = "unsubscribe-mail"  # a mail to the List-Unsubscribe mailto address
    BOUNCE_UNDONE = "bounce-undone"        # the circuit breaker blamed the relay, not the address


# who made a change (the event's actor): the send, the bounce processor, and the web pages
SENDER_ACTOR = "sender"
BOUNCES_ACTOR = "bounces"


def web_actor(cause: Cause) -> str:
    """The actor of a change made on a web page: `web:one-click`, `web:unsubscribe-page`."""
    return f"web:{cause.value}"


MOVABLE = frozenset({Status.ACTIVE, Status.UNCONFIRMED})


@dataclass(frozen=True)
class Rule:
    becomes: Status
    moves: frozenset[Status]  # the statuses it changes; from any other the subscriber keeps theirs


RULES: dict[Cause, Rule] = {
    Cause.HARD_BOUNCE: Rule(Status.BOUNCED, MOVABLE),
    Cause.SOFT_BOUNCES: Rule(Status.BOUNCED, MOVABLE),
    # a complaint is the strongest no: it also overrides an earlier unsubscribe or bounce
    Cause.COMPLAINT: Rule(Status.COMPLAINED, MOVABLE | {Status.UNSUBSCRIBED, Status.BOUNCED}),
    Cause.ONE_CLICK: Rule(Status.UNSUBSCRIBED, MOVABLE),
    Cause.UNSUBSCRIBE_PAGE: Rule(Status.UNSUBSCRIBED, MOVABLE),
    Cause.UNSUBSCRIBE_MAIL: Rule(Status.UNSUBSCRIBED, MOVABLE),
    # only a bounce is undone (and its suppression entry lifted): never someone's own no
    Cause.BOUNCE_UNDONE: Rule(Status.ACTIVE, frozenset({Status.BOUNCED})),
}

# what a journal row's outcome does to its subscriber (the send's part of the vocabulary)
ROW_CAUSES: dict[State, Cause] = {State.BOUNCED: Cause.HARD_BOUNCE}


def changes_subscriber(state: State) -> bool:
    """Whether a row becoming `state` may change its subscriber (the writer then takes the
    list's write lock first, like every writer of the list)."""
    return state in ROW_CAUSES


@dataclass(frozen=True)
class RowOutcome:
    subscriber_id: int
    state: State
    reply: str


def change(cause: Cause, current: Status) -> Status | None:
    """The status a subscriber now `current` gets for `cause`; None: they keep theirs."""
    rule = RULES[cause]
    return rule.becomes if current in rule.moves and current != rule.becomes else None


def soft_bounce_count(soft_issues: set[str], recent_issues: list[str], settings: BouncesSettings) -> int:
    """How many of the subscriber's last `soft_bounce_issues` issues (`recent_issues`, newest
    first) had a soft bounce; `soft_issues` are those within `soft_bounce_days` (0: any age)."""
    return len(soft_issues & set(recent_issues[:settings.soft_bounce_issues]))


def soft_bounce_rule(count: int, settings: BouncesSettings) -> str | None:
    """The rule that makes `count` soft-bounced issues a cause (SOFT_BOUNCES), or None: not yet."""
    if count < settings.soft_bounce_limit:
        return None
    return f"soft-bounces: {count} of the last {settings.soft_bounce_issues} issues"


def apply(session: Session, subscriber: Subscriber, cause: Cause, *, actor: str, issue_id: str | None,
          reason: str, when: datetime | None = None) -> bool:
    """Change the subscriber for `cause` (one event, about `issue_id`); False: the table keeps
    their status. Undoing a bounce also lifts the suppression entry the bounce made."""
    # (imported here: the subscriber service loads email_validator, ~40 ms of a send's start-up
    # for what only a bounce needs)
    from ..subscribers.service import change_status, resubscribe

    if change(cause, subscriber.status) is None:
        return False
    if cause is Cause.BOUNCE_UNDONE:
        return resubscribe(session, subscriber.email, actor=actor, reason=reason, issue_id=issue_id)
    return change_status(session, subscriber, RULES[cause].becomes, actor=actor, reason=reason, when=when,
                         issue_id=issue_id)


def apply_row_outcomes(connection: Connection, issue_id: str, outcomes: list[RowOutcome], when: datetime) -> None:
    """What journal rows' outcomes do to their subscribers (a hard bounce: `bounced`, the reply as
    the reason), in the caller's transaction: the writer's, so a bounce commits with its row."""
    with Session(bind=connection) as session:
        for outcome in outcomes:
            cause = ROW_CAUSES.get(outcome.state)
            subscriber = session.get(Subscriber, outcome.subscriber_id) if cause else None
            if cause is not None and subscriber is not None:
                apply(session, subscriber, cause, actor=SENDER_ACTOR, issue_id=issue_id,
                      reason=f"{outcome.reply} (issue {issue_id})", when=when)
        session.flush()
