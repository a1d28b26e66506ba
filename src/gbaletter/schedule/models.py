"""The `schedules` table: one row per planned send of an issue to a segment.

A row moves from `pending` exactly once, by a conditional UPDATE (`... WHERE state = 'pending'`)
whose row count says who won: a scheduler that claims it (`sending`), one that finds it too late
(`missed`), or an editor who cancels it (`cancelled`). Everything after that is written only by
the scheduler that claimed it.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db.base import Base, utcnow


class ScheduleState(enum.StrEnum):
    PENDING = "pending"        # waiting for its time
    SENDING = "sending"        # claimed by one scheduler, which is sending it (or crashed doing so)
    SENT = "sent"              # the send finished: every member handled
    INCOMPLETE = "incomplete"  # the send stopped with messages left (deferred, uncertain, stopped)
    FAILED = "failed"          # not sent: stale or missing build, check errors, server down
    MISSED = "missed"          # found later than the late window: not sent, reported
    CANCELLED = "cancelled"    # cancelled before it was due


class Schedule(Base):
    __tablename__ = "schedules"
    # the scheduler asks for pending rows in time order
    __table_args__ = (Index("ix_schedules_state_send_at", "state", "send_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[str] = mapped_column(String(64))
    segment: Mapped[str] = mapped_column(String(200))
    send_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(12), default=ScheduleState.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str] = mapped_column(default="")  # host and process id of the scheduler
    claimed_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(default="")  # what happened, in the words the CLI shows
