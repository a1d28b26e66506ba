"""The reader's own page, without HTTP: what the preference link shows and what its buttons do.

The link (`links.preferences_token`: the subscriber and a tag of their address) is in the footer of
every issue and on the unsubscribe page. It stops working when the subscriber is erased or moves
to another address, so mail that went to an old address cannot manage the new one. Every change
goes through `subscribers.preferences` or `service`, so each is a subscriber event; the page
itself (GET) changes nothing, and nothing is kept between requests (no cookies): each button
posts the token again.

Changing the address takes a second link, sent to the new address (`CHANGE_ADDRESS`): only its
owner can confirm the move, and the old address is told once it happened.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Workspace
from ..db import utcnow
from ..delivery.models import Delivery
from ..languages import LANGUAGES, Language
from ..links import CHANGE_ADDRESS, PREFERENCES, address_tag
from ..subscribers.models import Status, Subscriber
from ..subscribers.preferences import (PAUSE_WEEKS, change_address, check_new_address, is_paused,
                                       pause, resume, set_topics)
from ..subscribers.service import change_status, remove_subscriber, set_language
from ..tokens import BadToken, Signer
from ..tracking.events import subscriber_clicks

ACTOR = "web:preferences"
CHANGE_ADDRESS_DAYS = 2


@dataclass(frozen=True)
class Topic:
    tag: str
    title: str
    chosen: bool


@dataclass(frozen=True)
class PreferencesView:
    """What the page shows."""

    status: Status
    topics: list[Topic]
    paused_until: datetime | None
    language: str  # the edition they get
    languages: list[Language]  # the editions to choose from; none on a desk with one language
    pause_weeks: tuple[int, ...] = PAUSE_WEEKS


@dataclass(frozen=True)
class AddressChange:
    """What the email to the new address needs (in the subscriber's language)."""

    new_email: str
    token: str
    language: str = "en"


def subscriber_of(session: Session, signer: Signer, token: str) -> Subscriber:
    """The subscriber a preference link names, while it still is theirs; BadToken otherwise."""
    fields = signer.read(token, PREFERENCES)
    if len(fields) != 2 or not fields[0].isdigit():
        raise BadToken("this link is not valid (it may have been copied incompletely)")
    subscriber = session.get(Subscriber, int(fields[0]))
    if subscriber is None or fields[1] != address_tag(signer, subscriber.email):
        raise BadToken("this link is no longer valid: the subscription it was for is gone or has "
                       "moved to another address")
    return subscriber


def view(subscriber: Subscriber, topics: dict[str, str], languages: list[str]) -> PreferencesView:
    """The page of `subscriber`, with the desk's `topics` (tag -> name in the page's language)."""
    having = set(subscriber.tag_names)
    return PreferencesView(subscriber.status, [Topic(tag, title, tag in having) for tag, title in topics.items()],
                           subscriber.paused_until if is_paused(subscriber) else None, subscriber.language,
                           [LANGUAGES[tag] for tag in languages] if len(languages) > 1 else [])


def choose_topics(session: Session, subscriber: Subscriber, topics: Iterable[str],
                  chosen: list[str]) -> bool:
    return set_topics(session, subscriber, topics, chosen, actor=ACTOR)


def choose_edition(session: Session, subscriber: Subscriber, chosen: str, languages: list[str]) -> bool:
    """The edition the reader picked (one of the desk's `languages`, any spelling; UnknownLanguage
    for another), recorded in their history; False when it already was theirs."""
    return set_language(session, subscriber, chosen, languages=languages, actor=ACTOR,
                        reason="chosen on the preference page")


def pause_for(session: Session, subscriber: Subscriber, weeks: int) -> datetime:
    """Pause for one of the offered lengths (ValueError for another)."""
    if weeks not in PAUSE_WEEKS:
        raise ValueError(f"a pause of {weeks} weeks is not offered")
    until = utcnow() + timedelta(weeks=weeks)
    pause(session, subscriber, until, actor=ACTOR)
    return until


def resume_now(session: Session, subscriber: Subscriber) -> bool:
    return resume(session, subscriber, actor=ACTOR)


def unsubscribe_here(session: Session, subscriber: Subscriber) -> bool:
    if subscriber.status.suppresses:
        return False
    return change_status(session, subscriber, Status.UNSUBSCRIBED, actor=ACTOR,
                         reason="unsubscribed on the preference page")


def erase(session: Session, subscriber: Subscriber) -> None:
    """The person's row, tags, history and journal links go; the address stays only as the
    suppression list's hash, so it is never mailed again."""
    remove_subscriber(session, subscriber.email, actor=ACTOR, reason="erased by the subscriber")


def request_address_change(session: Session, signer: Signer, subscriber: Subscriber,
                           new_email: str) -> AddressChange:
    """Check the new address (GbaletterError: invalid, on the list, suppressed) and make the
    link that moves the subscriber there, bound to their current address."""
    normalized = check_new_address(session, new_email)
    encoded = base64.urlsafe_b64encode(normalized.encode()).decode().rstrip("=")
    token = signer.make(CHANGE_ADDRESS, subscriber.id, address_tag(signer, subscriber.email), encoded,
                        max_age=CHANGE_ADDRESS_DAYS * 24 * 3600)
    return AddressChange(normalized, token, subscriber.language)


def _read_change(session: Session, signer: Signer, token: str) -> tuple[Subscriber, str]:
    fields = signer.read(token, CHANGE_ADDRESS)
    try:
        if len(fields) != 3 or not fields[0].isdigit():
            raise ValueError
        new_email = base64.urlsafe_b64decode(fields[2] + "=" * (-len(fields[2]) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadToken("this link is not valid (it may have been copied incompletely)") from None
    subscriber = session.get(Subscriber, int(fields[0]))
    if subscriber is None or fields[1] != address_tag(signer, subscriber.email):
        raise BadToken("this link is no longer valid: the address was changed or the subscription "
                       "is gone")
    return subscriber, new_email


def address_change_offer(session: Session, signer: Signer, token: str) -> tuple[str, str]:
    """The new address a change link would move to, and the subscriber's language; changing nothing."""
    subscriber, new_email = _read_change(session, signer, token)
    return new_email, subscriber.language


def confirm_address_change(session: Session, signer: Signer, token: str) -> tuple[str, str, int]:
    """Move the subscriber to the link's address; (old, new, subscriber id). GbaletterError when
    the new address was taken or suppressed meanwhile; BadToken when the link is used up or forged."""
    subscriber, new_email = _read_change(session, signer, token)
    old = change_address(session, subscriber, new_email, actor=ACTOR)
    return old, subscriber.email, subscriber.id


def my_data(ws: Workspace, session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """Everything the list holds about the subscriber, as JSON: the profile, its history, the
    issues sent to them, and their clicks when they are kept per subscriber."""
    deliveries = session.execute(select(Delivery.issue_id, Delivery.state, Delivery.sent_at)
                                 .where(Delivery.subscriber_id == subscriber.id).order_by(Delivery.id))
    clicks = subscriber_clicks(ws, session, subscriber.id)
    return {
        "profile": {"email": subscriber.email, "name": subscriber.name, "status": subscriber.status.value,
                    "tags": subscriber.tag_names, "attributes": subscriber.attributes,
                    "consent_source": subscriber.consent_source,
                    "joined": subscriber.created_at.isoformat(),
                    "paused_until": subscriber.paused_until.isoformat() if is_paused(subscriber)
                    and subscriber.paused_until else None},
        "history": [{"at": e.at.isoformat(), "by": e.actor, "from": e.old_status.value,
                     "to": e.new_status.value, "why": e.reason} for e in subscriber.events],
        "deliveries": [{"issue": issue, "state": state, "sent_at": sent.isoformat() if sent else None}
                       for issue, state, sent in deliveries],
        "clicks": None if clicks is None else [
            {"issue": c.issue_id, "at": c.at.isoformat(), "url": c.url} for c in clicks],
        "clicks_kept": clicks is not None,
    }
