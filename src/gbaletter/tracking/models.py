"""The tracking table: one row per click or open, as `serve` received it.

Rows name the delivery (journal row) and the subscriber only during the issue's reporting window,
unless `[tracking] mode = "per-subscriber"`; closing the window (`retention.close_windows`) keeps
each row's verdict, its edition and an anonymous per-issue clicker number, and drops both ids. Erasing a
subscriber deletes their rows (ON DELETE CASCADE).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db.base import Base

CLICK, OPEN = "click", "open"


class TrackingEvent(Base):
    __tablename__ = "tracking_events"
    __table_args__ = (Index("ix_tracking_events_issue_kind_clicker", "issue_id", "kind", "clicker"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(5))          # CLICK or OPEN
    link_id: Mapped[str] = mapped_column(String(16), default="")
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    clicker: Mapped[int]                                  # the delivery id, then an anonymous number
    at: Mapped[datetime]
    method: Mapped[str] = mapped_column(String(4))        # GET or HEAD
    agent: Mapped[str] = mapped_column(String(24), default="")  # rules.agent_class of the User-Agent
    verdict: Mapped[str | None] = mapped_column(String(16))     # set when the window closes
    # the journal row's edition (deliveries.edition), copied when the window closes and the
    # delivery id goes; NULL before (the journal row says) and for events frozen before editions
    edition: Mapped[str | None] = mapped_column(String(16))
