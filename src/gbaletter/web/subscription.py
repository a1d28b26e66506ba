"""What a person does to their subscription on the web, without HTTP: sign up, confirm,
unsubscribe, resubscribe.

Every action is named by a signed token (`gbaletter.tokens`). Opening a link (GET) never changes
anything: mail scanners open links too. It only tells what the link would do (`confirmation_offer`);
the button on the page (POST) does it. Unsubscribe links come from the
sender ("u": subscriber, issue). Confirmation ("c") and resubscribe ("r") links are made here; they
expire, and they also carry the moment of the subscriber's last status change, so a link stops
working once the status has moved on: an old confirmation link cannot undo a later unsubscribe.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..delivery import effects
from ..delivery.effects import Cause
from ..links import CONFIRM as CONFIRM_PURPOSE
from ..links import RESUBSCRIBE as RESUBSCRIBE_PURPOSE
from ..links import UNSUBSCRIBE as UNSUBSCRIBE_PURPOSE
from ..links import WELCOME_ISSUE
from ..subscribers.models import Status, Subscriber
from ..subscribers.service import (add_subscriber, change_status, find_subscriber, is_suppressed,
                                   load_suppressions, resubscribe)
from ..tokens import BadToken, Signer
from ..translations import N_

CONFIRM_DAYS = 7
RESUBSCRIBE_MAX_AGE = 24 * 3600  # the offer on the page shown right after unsubscribing
SIGN_UP_SOURCE = "subscribe form (double opt-in)"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Outcome(enum.Enum):
    PENDING = "pending"  # the link can still do what it is for
    DONE = "done"
    ALREADY = "already"  # nothing to do: the link was used before
    STALE = "stale"      # the subscriber is gone or their status changed since the link was made


@dataclass(frozen=True)
class SignUp:
    """A filled-in subscribe form, checked: a normalized address, a name, known interests, one of
    the desk's languages."""

    email: str
    name: str
    interests: tuple[str, ...]
    language: str = "en"


@dataclass(frozen=True)
class PendingConfirmation:
    """What the confirmation email needs: the address, the link and the language the email is
    written in; nothing the visitor typed."""

    email: str
    token: str
    language: str = "en"


@dataclass(frozen=True)
class NewSubscriber:
    """Who just confirmed: what the welcome email needs."""

    id: int
    email: str
    interests: tuple[str, ...]
    language: str = "en"


@dataclass(frozen=True)
class Activation:
    """What a confirmation or resubscribe link did (or would do), and the language stored for the
    subscriber it names (None when they are gone), which its page answers in."""

    outcome: Outcome
    language: str | None
    new_subscriber: NewSubscriber | None = None  # who the link made active, now


@dataclass(frozen=True)
class UnsubscribeLink:
    subscriber_id: int
    issue_id: str


@dataclass(frozen=True)
class Unsubscribed:
    """The page after an unsubscribe: the resubscribe token to offer (or None), and the language
    stored for the link's subscriber (None when they are gone)."""

    resubscribe_token: str | None
    language: str | None


def _status_stamp(subscriber: Subscriber) -> str:
    """The subscriber's last status change, in microseconds: what "r" and "c" links are bound to."""
    return str((subscriber.status_changed_at - _EPOCH) // timedelta(microseconds=1))


def _read(signer: Signer, token: str, purpose: str, count: int) -> tuple[int, list[str]]:
    """(subscriber id, the other fields) of a valid token; BadToken otherwise."""
    fields = signer.read(token, purpose)
    if len(fields) != count or not fields[0].isdigit():
        raise BadToken(N_("this link is not valid (it may have been copied incompletely)"))
    return int(fields[0]), fields[1:]


def request_sign_up(session: Session, signer: Signer, sign_up: SignUp) -> PendingConfirmation | None:
    """Store a sign-up until its owner confirms it; None when no confirmation email should go out.

    A new address is added unconfirmed, with the name, interests and language given. Anyone can
    fill in the form with anyone's address, so it never changes a subscriber who is already on the
    list: an unconfirmed one is sent a fresh link, in the language stored for them (their stored
    name, interests and language stay as they are; only the moment of the request, `updated_at`,
    moves, which keeps them from `purge_expired_sign_ups` while the new link works); an active one
    has nothing to confirm; a suppressed address (unsubscribed, bounced, complained, or removed
    from the list) gets no email from the form. A person who unsubscribed comes back by the
    resubscribe button or their preference page.
    """
    subscriber = find_subscriber(session, sign_up.email)
    if subscriber is None:
        if is_suppressed(session, sign_up.email):
            return None
        subscriber = add_subscriber(session, sign_up.email, name=sign_up.name, tags=sign_up.interests,
                                    status=Status.UNCONFIRMED, source=SIGN_UP_SOURCE,
                                    language=sign_up.language)
    elif subscriber.status is Status.UNCONFIRMED:
        subscriber.updated_at = utcnow()
    else:
        return None
    token = signer.make(CONFIRM_PURPOSE, subscriber.id, _status_stamp(subscriber),
                        max_age=CONFIRM_DAYS * 24 * 3600)
    return PendingConfirmation(subscriber.email, token, subscriber.language)


def purge_expired_sign_ups(session: Session, now: datetime) -> int:
    """Delete the form's sign-ups whose last confirmation link has expired unused (they were never
    on the list: no suppression entry is left, so the address may sign up again); how many."""
    result = session.execute(delete(Subscriber).where(
        Subscriber.status == Status.UNCONFIRMED, Subscriber.consent_source == SIGN_UP_SOURCE,
        Subscriber.updated_at < now - timedelta(days=CONFIRM_DAYS)))
    return int(getattr(result, "rowcount", 0) or 0)


def _activation(session: Session, subscriber_id: int, stamp: str) -> tuple[Outcome, Subscriber | None]:
    """What the link of `subscriber_id` made at `stamp` can do now: PENDING, ALREADY (active) or
    STALE (gone, or the status changed since the link was made); and the subscriber, if any."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is not None and subscriber.status is Status.ACTIVE:
        return Outcome.ALREADY, subscriber
    if subscriber is None or _status_stamp(subscriber) != stamp:
        return Outcome.STALE, subscriber
    return Outcome.PENDING, subscriber


def _activate(session: Session, subscriber_id: int, stamp: str, *, actor: str, reason: str) -> Activation:
    """Make the subscriber active if their status is still the one the link was made for
    (DONE, with them as `new_subscriber`).

    A suppressed address (unsubscribed, bounced) is taken off the suppression list: the person
    asked for it by a link only they received.
    """
    outcome, subscriber = _activation(session, subscriber_id, stamp)
    language = subscriber.language if subscriber is not None else None
    if subscriber is None or outcome is not Outcome.PENDING:
        return Activation(outcome, language)
    if is_suppressed(session, subscriber.email):
        resubscribe(session, subscriber.email, actor=actor, reason=reason)
    else:
        change_status(session, subscriber, Status.ACTIVE, actor=actor, reason=reason)
    return Activation(Outcome.DONE, language, NewSubscriber(subscriber.id, subscriber.email,
                                                            tuple(subscriber.tag_names), subscriber.language))


def confirmation_offer(session: Session, signer: Signer, token: str) -> Activation:
    """What the confirmation link would do, changing nothing (the page it opens shows a button)."""
    subscriber_id, (stamp,) = _read(signer, token, CONFIRM_PURPOSE, 2)
    outcome, subscriber = _activation(session, subscriber_id, stamp)
    return Activation(outcome, subscriber.language if subscriber is not None else None)


def confirm_sign_up(session: Session, signer: Signer, token: str) -> Activation:
    """Confirm by the button on the link's page (`new_subscriber`: who it made active, now)."""
    subscriber_id, (stamp,) = _read(signer, token, CONFIRM_PURPOSE, 2)
    return _activate(session, subscriber_id, stamp, actor="web:confirm-button",
                     reason="subscribe form, confirmed by the link sent to the address")


def read_unsubscribe_link(signer: Signer, token: str) -> UnsubscribeLink:
    subscriber_id, (issue_id,) = _read(signer, token, UNSUBSCRIBE_PURPOSE, 2)
    return UnsubscribeLink(subscriber_id, issue_id)


def unsubscribe(session: Session, link: UnsubscribeLink, *, cause: Cause, reason: str) -> bool:
    """Unsubscribe the link's subscriber (`delivery.effects` decides);
    False when there was nothing to do (already suppressed, or no longer on the list), which makes
    every repeat of the request harmless."""
    subscriber = session.get(Subscriber, link.subscriber_id)
    if subscriber is None:
        return False
    issue_id = None if link.issue_id == WELCOME_ISSUE else link.issue_id
    return effects.apply(session, subscriber, cause, actor=effects.web_actor(cause), issue_id=issue_id, reason=reason)


def resubscribe_offer(session: Session, signer: Signer, link: UnsubscribeLink) -> str | None:
    """A token to undo the unsubscribe, while the link's subscriber is unsubscribed; else None."""
    subscriber = session.get(Subscriber, link.subscriber_id)
    if subscriber is None or subscriber.status is not Status.UNSUBSCRIBED:
        return None
    return signer.make(RESUBSCRIBE_PURPOSE, subscriber.id, _status_stamp(subscriber), link.issue_id,
                       max_age=RESUBSCRIBE_MAX_AGE)


def unsubscribe_many(session: Session, signer: Signer,
                     requests: Sequence[tuple[UnsubscribeLink, Cause, str]]) -> list[Unsubscribed]:
    """`unsubscribe` and then `resubscribe_offer` for each (link, cause, reason), in one unit of
    work: the POSTs that arrive together. The subscribers and their suppression entries are
    loaded in one query each and held, so each step finds them in the session, and everything is
    flushed once at the end: a batch is a handful of statements however many POSTs it holds."""
    ids = {link.subscriber_id for link, _, _ in requests}
    with session.no_autoflush:
        held = {subscriber.id: subscriber
                for subscriber in session.scalars(select(Subscriber).where(Subscriber.id.in_(ids)))}
        suppressions = load_suppressions(session, [subscriber.email_hash for subscriber in held.values()])
        for link, cause, reason in requests:
            unsubscribe(session, link, cause=cause, reason=reason)
        answers = [Unsubscribed(resubscribe_offer(session, signer, link),
                                held[link.subscriber_id].language if link.subscriber_id in held else None)
                   for link, _, _ in requests]
    del held, suppressions
    return answers


def resubscribe_by_link(session: Session, signer: Signer, token: str) -> Activation:
    subscriber_id, (stamp, issue_id) = _read(signer, token, RESUBSCRIBE_PURPOSE, 3)
    return _activate(session, subscriber_id, stamp, actor="web:resubscribe-button",
                     reason=f"resubscribed right after unsubscribing from issue {issue_id}")
