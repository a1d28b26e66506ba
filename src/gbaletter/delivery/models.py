"""The send journal's tables: one `Send` per issue and segment, one `Delivery` per recipient.

Deliveries hold no personal data (only the subscriber's id), so erasing a subscriber erases them
from every journal too; the row stays, with its state, for the counts.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db.base import Base


class State(enum.StrEnum):
    """A journal row's state; docs/outcomes.md has the table of what each means and who sends it.

    Every run sends `queued` and `deferred` rows; `uncertain` (and `sending` left by a crash) only
    with --resend-uncertain; `failed` only with --retry-failed.
    """

    QUEUED = "queued"        # not tried yet, or put back (the send stopped, or a sender problem)
    SENDING = "sending"      # with the SMTP server now; left so by a crash: uncertain
    SENT = "sent"            # the server accepted it
    DEFERRED = "deferred"    # temporary failures (4xx, lost connections) used up this run's attempts
    UNCERTAIN = "uncertain"  # the connection was lost after the whole message went out
    FAILED = "failed"        # cannot be sent as it is: the address needs SMTPUTF8, the server lacks it
    BOUNCED = "bounced"      # the address is bad (outcome table): the subscriber is bounced
    SKIPPED = "skipped"      # unsubscribed, bounced or erased after the recipients were frozen

    @property
    def still_to_go(self) -> bool:
        """Every run sends the row again: it has not gone out and nothing settled it."""
        return self in STILL_TO_GO

    @property
    def went_out(self) -> bool:
        """The message was handed to the server (it keeps the Message-ID it went with)."""
        return self in WENT_OUT


STILL_TO_GO = frozenset({State.QUEUED, State.DEFERRED})
WENT_OUT = frozenset({State.SENT, State.BOUNCED, State.UNCERTAIN})


class Send(Base):
    __tablename__ = "sends"
    __table_args__ = (UniqueConstraint("issue_id", "segment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[str] = mapped_column(String(64))
    segment: Mapped[str] = mapped_column(String(200))
    recipients: Mapped[int]
    started_at: Mapped[datetime]


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("issue_id", "subscriber_id"),
        # the send loop pages through one issue's rows in one state, in id order
        Index("ix_deliveries_issue_state_id", "issue_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[str] = mapped_column(String(64))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(10), default=State.QUEUED.value)
    attempts: Mapped[int] = mapped_column(default=0)
    last_reply: Mapped[str] = mapped_column(default="")
    message_id: Mapped[str] = mapped_column(default="")
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # Several senders on one send: the worker (SendWorker.id) that last claimed the row, and
    # until when a queued row it claimed is its own (None: anyone's). See leases.claim_batch.
    worker: Mapped[int | None]
    lease_until: Mapped[datetime | None]
    # The edition this row's reader gets: their language when the row was added (a later change
    # of language reaches the next issue, not a send under way). "" before editions.
    edition: Mapped[str] = mapped_column(String(16), default="", server_default="")


class SendWorker(Base):
    """One `issue send` process working on an issue, alone or beside others (`issue status`)."""

    __tablename__ = "send_workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))  # host and process id
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]  # renewed with its leases; a worker not heard of is gone
    finished_at: Mapped[datetime | None]


class IssueLink(Base):
    """A tracked link of a sent issue, copied from the build's link table when the send starts.

    The click redirect reads its target from here, never from the request, so it cannot be made
    an open redirect; a rebuild after the send cannot break the links already in inboxes.
    """

    __tablename__ = "issue_links"

    issue_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    link_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    url: Mapped[str]
    section: Mapped[str] = mapped_column(String(16))
    story: Mapped[str] = mapped_column(default="")
    title: Mapped[str] = mapped_column(default="")
