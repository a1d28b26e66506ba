"""The web pages' own table: who asked for a confirmation email lately.

In the database, not in a process's memory, so that every `serve --workers` process and every
restart keeps the same limit. Rows hold the address's hash only, and go away once they are older
than the interval.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from ..db.base import Base


class ConfirmationRequest(Base):
    __tablename__ = "confirmation_requests"

    email_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(index=True)
