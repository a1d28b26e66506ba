"""The library API over the list: what the CLI, the importer and the sender call.

Functions take an open `Session` (from `Database.session()`) and never commit: the caller's unit of
work does. Who did something is an `actor` string, e.g. "cli:alice", "import members.csv",
"sender"; why is a free-text `reason` ("550 reply to issue 2019-W26").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..errors import GbaletterError
from ..languages import normalize_language
from .addresses import email_hash, normalize_address
from .models import Status, Subscriber, SubscriberEvent, Suppression, Tag
# re-exported: the API has always offered them here
from .values import normalize_name as normalize_name
from .values import normalize_tag as normalize_tag

_ATTRIBUTE_KEY = re.compile(r"\w[\w-]*")


def check_attribute_key(key: str) -> str:
    """Attribute keys are words (letters, digits, _ and -) so segments can name them: attr.KEY."""
    if not _ATTRIBUTE_KEY.fullmatch(key):
        raise GbaletterError(f"invalid attribute name {key!r}: use letters, digits, _ and -")
    return key


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this address (any case), or None; an invalid address raises."""
    key = email_hash(normalize_address(email))
    return session.scalars(select(Subscriber).where(Subscriber.email_hash == key)).one_or_none()


def _suppression(session: Session, email: str) -> Suppression | None:
    return session.get(Suppression, email_hash(normalize_address(email)))


def is_suppressed(session: Session, email: str) -> bool:
    """Whether this address must never be mailed (unsubscribed, bounced, complained or removed)."""
    return _suppression(session, email) is not None


def _unknown(email: str, suppression: Suppression | None) -> GbaletterError:
    hint = f" (removed; suppressed as {suppression.reason})" if suppression else ""
    return GbaletterError(f"unknown address {email.strip()!r}: not on the list{hint}")


def require_subscriber(session: Session, email: str) -> Subscriber:
    subscriber = find_subscriber(session, email)
    if subscriber is None:
        raise _unknown(email, _suppression(session, email))
    return subscriber


def tags_by_name(session: Session, names: Iterable[str]) -> list[Tag]:
    """The tags with these names, created when missing."""
    wanted = sorted({normalize_tag(name) for name in names})
    existing = {tag.name: tag for tag in session.scalars(select(Tag).where(Tag.name.in_(wanted)))}
    for name in wanted:
        if name not in existing:
            existing[name] = Tag(name=name)
            session.add(existing[name])
    return [existing[name] for name in wanted]


# session.info key: the address hashes `load_suppressions` found without an entry
_UNSUPPRESSED = "gbaletter_unsuppressed"


def load_suppressions(session: Session, keys: Iterable[bytes]) -> list[Suppression]:
    """Look up the suppression entries of many address hashes in one query, for a batch of status
    changes in this session: `suppress` then asks the database nothing more about them (one
    SELECT per unsubscribe was most of a batch's time on PostgreSQL, with the list's write lock
    held). The caller holds the returned entries (the session keeps them only while referenced)
    and holds the list's write lock, so that no other writer adds one meanwhile."""
    wanted = set(keys)
    found = list(session.scalars(select(Suppression).where(Suppression.email_hash.in_(wanted))))
    session.info.setdefault(_UNSUPPRESSED, set()).update(wanted - {entry.email_hash for entry in found})
    return found


def suppress(session: Session, key: bytes, reason: str, detail: str, when: datetime) -> None:
    """Put an address hash on the suppression list, or refresh why it is there."""
    unsuppressed = session.info.get(_UNSUPPRESSED, set())
    entry = None if key in unsuppressed else session.get(Suppression, key)
    if entry is None:
        unsuppressed.discard(key)
        session.add(Suppression(email_hash=key, reason=reason, detail=detail, created_at=when))
    else:
        entry.reason, entry.detail, entry.created_at = reason, detail, when


def add_subscriber(session: Session, email: str, *, name: str = "", tags: Iterable[str] = (),
                   attributes: Mapping[str, Any] | None = None, status: Status = Status.ACTIVE,
                   source: str = "", language: str = "en", when: datetime | None = None) -> Subscriber:
    """Add a new address; `source` records where the consent came from, `language` is one of
    the desk's languages, already normalized (`gbaletter.languages.normalize_language`)."""
    normalized = normalize_address(email)
    key = email_hash(normalized)
    existing = session.scalars(select(Subscriber).where(Subscriber.email_hash == key)).one_or_none()
    if existing is not None:
        raise GbaletterError(f"{normalized} is already on the list "
                             f"(as {existing.email}, {existing.status})")
    suppression = session.get(Suppression, key)
    if suppression is not None and not status.suppresses:
        raise GbaletterError(f"{normalized} is suppressed ({suppression.reason}); add it again only "
                             f"if they asked: `subscribers resubscribe {normalized}`")
    when = when or utcnow()
    subscriber = Subscriber(
        email=normalized, email_hash=key, name=normalize_name(name), status=status,
        attributes={check_attribute_key(k): v for k, v in (attributes or {}).items()},
        consent_source=source, language=language, created_at=when, updated_at=when,
        status_changed_at=when, tags=tags_by_name(session, tags))
    session.add(subscriber)
    if status.suppresses:
        suppress(session, key, status.value, f"added as {status}", when)
    session.flush()
    return subscriber


def tag_subscriber(session: Session, email: str, tags: Iterable[str]) -> list[str]:
    """Give the subscriber these tags; returns the ones it did not have yet."""
    subscriber = require_subscriber(session, email)
    new = [tag for tag in tags_by_name(session, tags) if tag not in subscriber.tags]
    subscriber.tags.extend(new)
    if new:
        subscriber.updated_at = utcnow()
    return [tag.name for tag in new]


def untag_subscriber(session: Session, email: str, tags: Iterable[str]) -> list[str]:
    """Take these tags away; returns the ones it had."""
    subscriber = require_subscriber(session, email)
    names = {normalize_tag(tag) for tag in tags}
    removed = [tag for tag in subscriber.tags if tag.name in names]
    for tag in removed:
        subscriber.tags.remove(tag)
    if removed:
        subscriber.updated_at = utcnow()
    return [tag.name for tag in removed]


def change_status(session: Session, subscriber: Subscriber, status: Status, *, actor: str,
                  reason: str = "", when: datetime | None = None, issue_id: str | None = None) -> bool:
    """Move a loaded subscriber to `status`, recording the event (about `issue_id`, if the change
    is about an issue); False if it already was there."""
    if subscriber.status == status:
        return False
    when = when or utcnow()
    session.add(SubscriberEvent(subscriber_id=subscriber.id, at=when, actor=actor, issue_id=issue_id,
                                old_status=subscriber.status, new_status=status, reason=reason))
    subscriber.status, subscriber.status_changed_at, subscriber.updated_at = status, when, when
    if status.suppresses:
        suppress(session, subscriber.email_hash, status.value, reason, when)
    return True


def set_language(session: Session, subscriber: Subscriber, language: str, *, languages: Sequence[str],
                 actor: str, reason: str = "", when: datetime | None = None) -> bool:
    """Give a loaded subscriber the edition in `language` (any spelling `normalize_language`
    reads, among the desk's `languages`), recording the change in their history; False when it
    already was theirs. An unknown language raises UnknownLanguage, naming the value.

    The event keeps the status as it is (old = new) and says what changed in its reason.
    """
    new = normalize_language(language, languages)
    if subscriber.language == new:
        return False
    when = when or utcnow()
    change = f"language {subscriber.language} -> {new}"
    session.add(SubscriberEvent(subscriber_id=subscriber.id, at=when, actor=actor,
                                old_status=subscriber.status, new_status=subscriber.status,
                                reason=f"{change}: {reason}" if reason else change))
    subscriber.language, subscriber.updated_at = new, when
    return True


def set_status(session: Session, email: str, status: Status, *, actor: str,
               reason: str = "") -> bool:
    """Set an address's status (e.g. bounced by the sender); False if it already had it.

    Unsubscribed, bounced and complained put the address on the suppression list. Only
    `resubscribe` takes it off again: setting such an address back to active here is refused.
    """
    subscriber = require_subscriber(session, email)
    if not status.suppresses and session.get(Suppression, subscriber.email_hash) is not None:
        raise GbaletterError(f"{subscriber.email} is suppressed ({subscriber.status}); "
                             f"only `subscribers resubscribe` can make it {status} again")
    return change_status(session, subscriber, status, actor=actor, reason=reason)


def resubscribe(session: Session, email: str, *, actor: str, reason: str = "",
                issue_id: str | None = None) -> bool:
    """Take an address off the suppression list and make it active, because an admin says so.

    A removed address (no longer on the list) is only taken off the suppression list, so it can be
    added or imported again. Returns False when there was nothing to do.
    """
    key = email_hash(normalize_address(email))
    suppression = session.get(Suppression, key)
    subscriber = find_subscriber(session, email)
    if subscriber is None and suppression is None:
        raise _unknown(email, None)
    if suppression is not None:
        session.delete(suppression)
        session.flush()
    if subscriber is None:
        return True
    return change_status(session, subscriber, Status.ACTIVE, actor=actor,
                         reason=reason or "resubscribed", issue_id=issue_id) or suppression is not None


def remove_subscriber(session: Session, email: str, *, actor: str, reason: str = "") -> None:
    """Erase a person: their row, tags and history go; a hashed suppression entry stays."""
    subscriber = require_subscriber(session, email)
    if session.get(Suppression, subscriber.email_hash) is None:
        suppress(session, subscriber.email_hash, "removed", reason or f"removed by {actor}", utcnow())
    session.delete(subscriber)


@dataclass(frozen=True)
class History:
    """Everything that answers "why is this person (not) getting the newsletter?"."""

    subscriber: Subscriber | None
    events: list[SubscriberEvent]
    suppression: Suppression | None

    @property
    def joined_as(self) -> Status | None:
        """The status the subscriber started with (the first change's old status)."""
        if self.subscriber is None:
            return None
        return self.events[0].old_status if self.events else self.subscriber.status


def subscriber_history(session: Session, email: str) -> History:
    """The subscriber, its status changes and its suppression entry; unknown addresses raise."""
    subscriber = find_subscriber(session, email)
    suppression = _suppression(session, email)
    if subscriber is None and suppression is None:
        raise _unknown(email, None)
    return History(subscriber, list(subscriber.events) if subscriber else [], suppression)
