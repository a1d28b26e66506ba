"""The subscriber list's tables.

An address is unique case-insensitively through `email_hash`, the SHA-256 of the lower-cased
address (32 bytes): the same key identifies the address in the suppression list, which keeps only
hashes so that an erased person leaves no readable trace and is still never mailed again. Binary,
not hex: the unique index takes keys in random order, and at a million rows a 64-character key
no longer fits SQLite's page cache, which made imports 1.5x slower.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Enum, ForeignKey, Index, Integer, LargeBinary, String, Table, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db.base import Base
# re-exported: the rest of the code imports them from here
from .status import SUPPRESSING as SUPPRESSING
from .status import Status as Status


def _status_column(constraint_name: str) -> Any:
    """A status stored as its text, checked by a named constraint (portable, no native enum)."""
    kind = Enum(Status, name=constraint_name, native_enum=False, create_constraint=True, length=12,
                values_callable=lambda statuses: [s.value for s in statuses])
    return mapped_column(kind)


subscriber_tags = Table(
    "subscriber_tags", Base.metadata,
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # Segments select by tag: "every subscriber with tag X" is a range of this index.
    Index("ix_subscriber_tags_tag_id_subscriber_id", "tag_id", "subscriber_id"),
    sqlite_with_rowid=False,
)


# Top-level attributes as index entries, so that `attr.lang = "en"` is a range of subscriber ids in
# id order (docs/benchmarks.md: reading each row's JSON cost more than the rest of a segment).
# Written by triggers on `subscribers` (migration 0015), so every path that writes attributes
# keeps it in step: one entry per attribute whose value is not null, as the text the segment
# language compares (SQLite: CAST(json_extract(...) AS TEXT); PostgreSQL: ->>), for keys and
# values up to these lengths (a PostgreSQL index entry has a size limit); longer ones are
# compared in the JSON, as before. No foreign key: the triggers also remove a deleted
# subscriber's entries, which a cascade would have to find without an index on subscriber_id.
ATTRIBUTE_KEY_INDEXED = 128
ATTRIBUTE_VALUE_INDEXED = 256
subscriber_attributes = Table(
    "subscriber_attributes", Base.metadata,
    Column("key", String, primary_key=True),
    Column("value", String, primary_key=True),
    Column("subscriber_id", Integer, primary_key=True),
    sqlite_with_rowid=False,
)


ADDRESS_INDEX = "ix_subscribers_email_hash"


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Subscriber(Base):
    __tablename__ = "subscribers"
    __table_args__ = (
        # ids are in unsubscribe links: never hand an erased subscriber's id to someone else
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # A unique index, not a constraint of the table (migration 0016): an import into an empty
    # list on SQLite drops it and builds it once after the rows (subscribers/sqliteload.py);
    # its name (ADDRESS_INDEX) is what the naming convention gives it.
    email_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True, index=True)
    name: Mapped[str] = mapped_column(default="")
    status: Mapped[Status] = _status_column("status")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    consent_source: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    status_changed_at: Mapped[datetime]
    paused_until: Mapped[datetime | None] = mapped_column(default=None)  # sends skip them until then
    # One of the desk's languages (gbaletter.languages): the edition this reader gets. Rows from
    # before editions read English, the only language there was.
    language: Mapped[str] = mapped_column(String(16), server_default="en")

    tags: Mapped[list[Tag]] = relationship(secondary=subscriber_tags, order_by=Tag.name,
                                           passive_deletes=True)
    events: Mapped[list[SubscriberEvent]] = relationship(
        order_by="SubscriberEvent.id", passive_deletes=True, cascade="all, delete-orphan")

    @property
    def tag_names(self) -> list[str]:
        return [tag.name for tag in self.tags]


class SubscriberEvent(Base):
    """One status change: who (actor), what (old -> new status), when, why (reason), and the
    issue it is about, if any (a bounce of it, an unsubscribe from it): reports count by it."""

    __tablename__ = "subscriber_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str]
    old_status: Mapped[Status] = _status_column("old_status")
    new_status: Mapped[Status] = _status_column("new_status")
    reason: Mapped[str] = mapped_column(default="")
    issue_id: Mapped[str | None] = mapped_column(String(64), index=True)


class Suppression(Base):
    """An address never to be mailed: unsubscribed, bounced, complained or removed.

    Only the hash is kept; an admin lifts an entry explicitly with `resubscribe`.
    """

    __tablename__ = "suppressions"

    email_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime]


class Segment(Base):
    """A named, saved filter written in the segment language (docs/segments.md)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    expression: Mapped[str]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


def declare_partial_indexes() -> None:
    """Add to `Base.metadata` the partial indexes of `subscribers` that migration 0015 creates.

    Segments subtract the few subscribers who may not be mailed (not active, paused) as index
    ranges instead of reading every member's row; partial, so the many active, unpaused rows cost
    the import nothing (their conditions are written the same way in segments.py: a partial index
    serves only a query that states its condition). They are declared here, for the migrations'
    environment and the schema comparison, not on the class: a `postgresql_where` makes SQLAlchemy
    load its PostgreSQL dialect (~3 MB) in every process that imports the models, a SQLite send
    included, and nothing at run time needs the Index objects (the schema is made by migrations).
    """
    table = Subscriber.__table__
    if any(index.name == "ix_subscribers_not_active" for index in table.indexes):
        return
    Index("ix_subscribers_not_active", table.c.status, sqlite_where=text("status != 'active'"),
          postgresql_where=text("status != 'active'"))
    Index("ix_subscribers_paused_until", table.c.paused_until, sqlite_where=text("paused_until IS NOT NULL"),
          postgresql_where=text("paused_until IS NOT NULL"))
