"""A subscriber's status: its own module, free of SQLAlchemy, so that `subscribers add --help`
can list the choices without loading the database stack (`models` re-exports it)."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    UNCONFIRMED = "unconfirmed"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"

    @property
    def suppresses(self) -> bool:
        """Whether reaching this status puts the address on the suppression list."""
        return self in SUPPRESSING


SUPPRESSING = frozenset({Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED})
