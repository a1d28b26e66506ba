"""The bounce corpus (tests/data/bounces) and a workspace with a sent issue to attribute it to."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sqlalchemy import update

from gbaletter.config import Workspace
from gbaletter.db import Database, utcnow
from gbaletter.delivery import journal
from gbaletter.delivery.models import Delivery, State
from gbaletter.links import MESSAGE_ID_TAG, MailAddresses, signer_for
from gbaletter.subscribers.models import Subscriber
from gbaletter.subscribers.service import add_subscriber

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bounces"
BOUNCES_CONFIG = '\n[bounces]\nsource = "maildir"\npath = "bounces"\n'


def corpus(name: str, *, verp: str = "bounces@example.org", message_id: str = "<none@example.org>",
           rcpt: str = "nobody@example.org") -> bytes:
    data = (CORPUS / name).read_bytes()
    return (data.replace(b"@@VERP@@", verp.encode()).replace(b"@@MESSAGE_ID@@", message_id.encode())
            .replace(b"@@RCPT@@", rcpt.encode()))


def make_maildir(path: Path) -> Path:
    for sub in ("new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def deliver(maildir: Path, name: str, data: bytes) -> Path:
    """Put a message into the Maildir's new/ as an MTA would."""
    target = make_maildir(maildir) / "new" / f"1733000000.{name}.test"
    target.write_bytes(data)
    return target


@dataclass
class SentIssue:
    """An issue whose journal says it went to `rows` (address -> journal row id)."""

    ws: Workspace
    issue_id: str
    rows: dict[str, int]

    def verp(self, address: str) -> str:
        return MailAddresses(self.ws, signer_for(self.ws)).bounce(self.rows[address])

    def message_id(self, address: str) -> str:
        tag = signer_for(self.ws).tag(MESSAGE_ID_TAG, self.issue_id)
        return f"<{self.issue_id}.{tag}.{self.rows[address]}@example.org>"

    def unsubscribe_address(self, db: Database, address: str) -> str:
        with db.reader() as session:
            subscriber = session.query(Subscriber).filter_by(email=address).one()
            return MailAddresses(self.ws, signer_for(self.ws)).unsubscribe(subscriber.id)


def sent_issue(ws: Workspace, db: Database, issue_id: str, addresses: list[str],
               tag: str = "weekly") -> SentIssue:
    """Subscribers (added if new) and a journal for `issue_id` in which every message went out."""
    with db.session() as session:
        for address in addresses:
            if session.query(Subscriber).filter_by(email=address).one_or_none() is None:
                add_subscriber(session, address, tags=[tag])
    with db.session() as session:
        ids = session.query(Subscriber.id).filter(Subscriber.email.in_(addresses))
        journal.freeze(session, issue_id, f"list:{issue_id}", ids)
        session.execute(update(Delivery).where(Delivery.issue_id == issue_id)
                        .values(state=State.SENT.value, sent_at=utcnow()))
    with db.reader() as session:
        rows = dict(session.query(Subscriber.email, Delivery.id).join(
            Delivery, Delivery.subscriber_id == Subscriber.id).filter(Delivery.issue_id == issue_id).all())
    return SentIssue(ws, issue_id, rows)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Wait for something a server or a watching process does by itself (fails after `timeout`)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)
