"""What came back after a send: one `FeedbackEvent` per result read from the bounce mailbox.

Every message the processor reads leaves a row here, understood or not, so an issue's bounces and
complaints can be counted afterwards (`issue status`, reports) and a message read twice (a crash
between the commit and the move) is recognised by its `source_id` and not counted twice. Rows hold
ids, not addresses: erasing a subscriber sets `subscriber_id` to NULL and keeps the count.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, true
from sqlalchemy.orm import Mapped, mapped_column

from ..db.base import Base


class Kind(enum.StrEnum):
    """What one message (or one recipient of a DSN) says; docs/bounces.md has the table."""

    HARD_BOUNCE = "hard_bounce"        # the outcome table says the address is bad
    SOFT_BOUNCE = "soft_bounce"        # failed for a passing reason: counted (policy)
    SENDER_PROBLEM = "sender_problem"  # failed for a reason of ours (policy, size, reputation)
    DELAYED = "delayed"                # Action: delayed: still trying, not a bounce
    DELIVERED = "delivered"            # a success DSN (Action: delivered, relayed, expanded)
    COMPLAINT = "complaint"            # an RFC 5965 feedback report: the reader marked it spam
    UNSUBSCRIBE = "unsubscribe"        # a mail to the List-Unsubscribe mailto address
    AUTO_REPLY = "auto_reply"          # out-of-office and other RFC 3834 automatic replies
    UNMATCHED = "unmatched"            # understood, but names no delivery of ours: left in place
    UNPARSED = "unparsed"              # not understood (or too big, too deep): left in place

    @property
    def left_in_mailbox(self) -> bool:
        return self in (Kind.UNMATCHED, Kind.UNPARSED)


class FeedbackEvent(Base):
    __tablename__ = "feedback_events"
    __table_args__ = (
        Index("ix_feedback_events_issue_kind", "issue_id", "kind"),
        Index("ix_feedback_events_subscriber_kind", "subscriber_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[str | None] = mapped_column(String(64))
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="")        # the DSN's Status: 5.1.1
    rule: Mapped[str] = mapped_column(String(40), default="")          # the outcome table's rule
    diagnostic: Mapped[str] = mapped_column(default="")                # Diagnostic-Code, or why unparsed
    reporting_mta: Mapped[str] = mapped_column(default="")
    arrived_at: Mapped[datetime]                                       # the report's own date
    processed_at: Mapped[datetime]
    source_id: Mapped[str] = mapped_column(String(250), index=True)   # the report's Message-ID
    # proven to be about a message we sent (a VERP token, our signed Message-ID); an unverified
    # report changes nobody and is not counted (docs/bounces.md, "Verified or not at all")
    verified: Mapped[bool] = mapped_column(default=True, server_default=true())
