"""How often the subscribe form may send a confirmation email to one address.

The claims live in the database (`models.ConfirmationRequest`), so every server process sees the
same ones. A claim is one write transaction: drop the claims older than the interval, then insert
this address's. The primary key decides: a second claim of the same address within the interval,
from any process, fails on it (on PostgreSQL too, where two inserts can race), so at most one
confirmation email goes out per address and interval.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from ..db import Database
from .models import ConfirmationRequest

CONFIRMATION_INTERVAL = 10 * 60  # seconds between two confirmation emails to the same address


def claim(db: Database, key: bytes, now: datetime, interval: float = CONFIRMATION_INTERVAL) -> bool:
    """True, and the key (an address hash) is taken for `interval` seconds, unless it was taken
    less than that ago."""
    try:
        with db.session() as session:
            session.execute(delete(ConfirmationRequest).where(
                ConfirmationRequest.requested_at <= now - timedelta(seconds=interval)))
            session.add(ConfirmationRequest(email_hash=key, requested_at=now))
    except IntegrityError:
        return False
    return True


def release(db: Database, key: bytes) -> None:
    """Give a key back (its email could not be sent), so the person may try again at once."""
    with db.session() as session:
        session.execute(delete(ConfirmationRequest).where(ConfirmationRequest.email_hash == key))
