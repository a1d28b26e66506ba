"""The web pages' own table: the confirmation emails the subscribe form sent lately.

In the database, not in a process's memory, so that every `serve --workers` process and every
restart keeps the same caps (`limits`). Each email is one claim, counted under several keys
(`scope`: the exact address, the mailbox, the client's network, the list); keys are hashes, never
addresses, and rows go away once they are older than the longest window.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db.base import Base


class ConfirmationClaim(Base):
    __tablename__ = "confirmation_claims"
    __table_args__ = (Index("ix_confirmation_claims_scope_key", "scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))
    key: Mapped[bytes] = mapped_column(LargeBinary(32))
    claim: Mapped[bytes] = mapped_column(LargeBinary(16), index=True)  # one email's rows together
    claimed_at: Mapped[datetime] = mapped_column(index=True)
