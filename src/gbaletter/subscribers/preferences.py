"""What a subscriber may change about themself (their preference page) and an admin may change
for them: topics, a pause, their address. Status changes stay in `service`; every change here is a
subscriber event too (its old and new status the same), so `subscribers show` tells it.

Functions take a loaded `Subscriber` and an open session and never commit, like `service`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from ..db import utcnow
from ..errors import GbaletterError
from .addresses import email_hash, normalize_address
from .models import Subscriber, SubscriberEvent, Suppression
from .service import find_subscriber, tags_by_name

PAUSE_WEEKS = (4, 8)  # what the preference page offers


def record_change(session: Session, subscriber: Subscriber, *, actor: str, reason: str,
                  when: datetime | None = None) -> None:
    """A subscriber event for a change that is not of status."""
    when = when or utcnow()
    session.add(SubscriberEvent(subscriber_id=subscriber.id, at=when, actor=actor,
                                old_status=subscriber.status, new_status=subscriber.status,
                                reason=reason))
    subscriber.updated_at = when


def is_paused(subscriber: Subscriber, now: datetime | None = None) -> bool:
    return subscriber.paused_until is not None and subscriber.paused_until > (now or utcnow())


def pause(session: Session, subscriber: Subscriber, until: datetime, *, actor: str) -> None:
    """Skip the subscriber in every send until `until`; they resume by themselves then."""
    if until <= utcnow():
        raise GbaletterError(f"a pause must end in the future, not {until:%Y-%m-%d %H:%M} UTC")
    subscriber.paused_until = until
    record_change(session, subscriber, actor=actor, reason=f"paused until {until:%Y-%m-%d %H:%M} UTC")


def resume(session: Session, subscriber: Subscriber, *, actor: str) -> bool:
    """End a pause now; False when there was none."""
    if not is_paused(subscriber):
        return False
    subscriber.paused_until = None
    record_change(session, subscriber, actor=actor, reason="resumed before the pause ended")
    return True


def set_topics(session: Session, subscriber: Subscriber, offered: Iterable[str],
               chosen: Iterable[str], *, actor: str) -> bool:
    """Give the subscriber exactly the `chosen` ones of the `offered` tags; tags that are not
    offered (the desk's own: segments, sources) are left as they are. False when nothing changed."""
    offered_names = {tag.strip().lower() for tag in offered}
    wanted = {tag.strip().lower() for tag in chosen} & offered_names
    having = {tag.name for tag in subscriber.tags if tag.name in offered_names}
    if wanted == having:
        return False
    kept = [tag for tag in subscriber.tags if tag.name not in offered_names]
    subscriber.tags = sorted(kept + tags_by_name(session, wanted), key=lambda tag: tag.name)
    added, removed = sorted(wanted - having), sorted(having - wanted)
    record_change(session, subscriber, actor=actor, reason="topics: " + "; ".join(
        part for part in (f"added {', '.join(added)}" if added else "",
                          f"removed {', '.join(removed)}" if removed else "") if part))
    return True


def check_new_address(session: Session, new_email: str) -> str:
    """The normalized new address, if a subscriber may move to it: not on the list already and
    not suppressed (someone who unsubscribed, bounced or complained there). GbaletterError else."""
    normalized = normalize_address(new_email)
    if find_subscriber(session, normalized) is not None:
        raise GbaletterError(f"{normalized} is already on the list")
    if session.get(Suppression, email_hash(normalized)) is not None:
        raise GbaletterError(f"{normalized} is suppressed: it cannot be mailed")
    return normalized


def change_address(session: Session, subscriber: Subscriber, new_email: str, *, actor: str) -> str:
    """Move the subscriber, with their history, tags and status, to `new_email`; the old address.
    The old address is not suppressed: it simply is no longer on the list."""
    normalized = check_new_address(session, new_email)
    old = subscriber.email
    subscriber.email, subscriber.email_hash = normalized, email_hash(normalized)
    record_change(session, subscriber, actor=actor, reason=f"address changed from {old} to {normalized}")
    return old
