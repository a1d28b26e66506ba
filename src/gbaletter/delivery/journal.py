"""The send journal: who is to get an issue, and what happened to each message.

The journal is the truth after any crash. Recipients are frozen into it when a send starts; every
state change is committed before the next step that depends on it, through a group commit: the
connections hand their changes to one writer that commits whatever has gathered in a single
transaction, so a thousand messages a second cost a few hundred commits, not thousands. A row is
`sending` only while its message is with the server, so after a crash at most one row per
connection is uncertain.

The states, and which run sends them, are documented in docs/outcomes.md (models.State).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, and_, bindparam, func, insert, literal, select, update
from sqlalchemy.orm import Session

from ..db import Database, utcnow
from ..db.bulk import DriverStatement
from ..subscribers.models import Status, Subscriber
from ..subscribers.service import change_status, resubscribe
from .message import Recipient
from .models import Delivery, Send, State

PAGE = 500
# How long the writer lets changes gather before a commit: more rows per commit, fewer commits,
# at the price of this much latency on each claim.
GATHER_SECONDS = 0.002
deliveries = Delivery.__table__


def freeze(session: Session, issue_id: str, segment: str, member_ids) -> int:
    """Add the segment's members to the issue's journal once; returns how many rows were added.

    A second send of the same issue to the same segment adds nobody (it resumes); another segment
    adds only its members who are not in the journal yet, so nobody gets the issue twice.
    """
    if session.scalar(select(Send.id).where(Send.issue_id == issue_id, Send.segment == segment)):
        return 0
    now = utcnow()
    members = member_ids.subquery()
    already = select(Delivery.subscriber_id).where(Delivery.issue_id == issue_id,
                                                   Delivery.subscriber_id.is_not(None))
    rows = select(members.c.id, literal(issue_id, deliveries.c.issue_id.type),
                  literal(State.QUEUED.value, deliveries.c.state.type),
                  literal(now, deliveries.c.updated_at.type)).where(members.c.id.not_in(already))
    # (Session.execute is typed as returning any Result; DML gives a CursorResult)
    result = cast("CursorResult[Any]", session.execute(insert(deliveries).from_select(
        ["subscriber_id", "issue_id", "state", "updated_at"], rows)))
    added = result.rowcount or 0
    session.add(Send(issue_id=issue_id, segment=segment, recipients=added, started_at=now))
    return added


def counts(session: Session, issue_id: str) -> dict[str, int]:
    found = dict(session.execute(select(Delivery.state, func.count()).where(
        Delivery.issue_id == issue_id).group_by(Delivery.state)).all())
    return {state.value: found.get(state.value, 0) for state in State}


def has_journal(session: Session, issue_id: str) -> bool:
    return session.scalar(select(Send.id).where(Send.issue_id == issue_id).limit(1)) is not None


@dataclass(frozen=True)
class Problem:
    email: str
    state: str
    attempts: int
    reply: str
    updated_at: datetime


def problems(session: Session, issue_id: str, states: tuple[State, ...], limit: int = 20) -> list[Problem]:
    """The latest rows in `states` with their last SMTP reply (for `issue status`)."""
    rows = session.execute(
        select(Subscriber.email, Delivery.state, Delivery.attempts, Delivery.last_reply,
               Delivery.updated_at)
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.issue_id == issue_id, Delivery.state.in_([s.value for s in states]))
        .order_by(Delivery.updated_at.desc(), Delivery.id.desc()).limit(limit))
    return [Problem(email or "(erased)", state, attempts, reply, at)
            for email, state, attempts, reply, at in rows]


def requeue(session: Session, issue_id: str, states: tuple[State, ...]) -> int:
    """Put rows in `states` back in the queue (e.g. uncertain ones, on --resend-uncertain)."""
    result = cast("CursorResult[Any]", session.execute(update(deliveries).where(
        deliveries.c.issue_id == issue_id, deliveries.c.state.in_([s.value for s in states]))
        .values(state=State.QUEUED.value, updated_at=utcnow())))
    return result.rowcount or 0


def undo_bounces(session: Session, issue_id: str, rows: list[int], reason: str) -> int:
    """Put rows that a relay-wide refusal bounced back in the queue, and their subscribers back
    to active (an event each, the suppression entry removed); returns how many were undone.

    The circuit breaker calls this when the same permanent reply refused many recipients in a
    row: such a reply speaks of the relay or our setup, so it must not cost anyone their
    subscription.
    """
    undone = 0
    for start in range(0, len(rows), PAGE):
        bounced = session.execute(select(Delivery.id, Subscriber.email).join(
            Subscriber, Subscriber.id == Delivery.subscriber_id).where(
            Delivery.issue_id == issue_id, Delivery.id.in_(rows[start:start + PAGE]),
            Delivery.state == State.BOUNCED.value, Subscriber.status == Status.BOUNCED)).all()
        for _, email in bounced:
            resubscribe(session, email, actor="sender", reason=f"{reason} (issue {issue_id})")
        if bounced:
            session.execute(update(deliveries).where(deliveries.c.id.in_([key for key, _ in bounced]))
                            .values(state=State.QUEUED.value, last_reply=reason, updated_at=utcnow()))
        undone += len(bounced)
    return undone


def pending(db: Database, issue_id: str, states: tuple[State, ...]) -> Iterator[list[Recipient]]:
    """Pages of recipients in `states`, one state after the other, in id order (keyset paging).

    One state per query: `state IN (a, b) ORDER BY id` would make SQLite collect and sort every
    remaining row for each page (~0.1 s a page at a million recipients); `state = a ... ORDER BY
    id` walks the (issue_id, state, id) index and stops after a page.
    """
    for state in states:
        after = 0
        while True:
            with db.reader() as session:
                rows = session.execute(
                    select(Delivery.id, Delivery.subscriber_id, Subscriber.email, Subscriber.name)
                    .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
                    .where(and_(Delivery.issue_id == issue_id, Delivery.state == state.value,
                                Delivery.id > after))
                    .order_by(Delivery.id).limit(PAGE)).all()
            if not rows:
                break
            after = rows[-1][0]
            yield [Recipient(key=row_id, subscriber_id=sub_id or 0, email=email or "", name=name or "")
                   for row_id, sub_id, email, name in rows]


def count_pending(session: Session, issue_id: str, states: tuple[State, ...]) -> int:
    return session.scalar(select(func.count()).select_from(deliveries).where(
        deliveries.c.issue_id == issue_id, deliveries.c.state.in_([s.value for s in states]))) or 0


@dataclass
class _Change:
    key: int
    subscriber_id: int
    state: State
    attempts: int = 0
    reply: str = ""
    message_id: str = ""
    future: asyncio.Future | None = None


_SET_STATE = (update(deliveries).where(deliveries.c.id == bindparam("b_key"))
              .values(state=bindparam("b_state"), attempts=bindparam("b_attempts"),
                      last_reply=bindparam("b_reply"), message_id=bindparam("b_message_id"),
                      updated_at=bindparam("b_now"), sent_at=bindparam("b_sent_at")))
_SET_STATE_NAMES = ("b_key", "b_state", "b_attempts", "b_reply", "b_message_id", "b_now", "b_sent_at")


# Built once: a statement made per commit costs more than the commit itself.
_ACTIVE_AMONG = select(Subscriber.id).where(Subscriber.id.in_(bindparam("ids", expanding=True)),
                                            Subscriber.status == Status.ACTIVE)


class JournalWriter:
    """Group commits for the send loop: `claim` before a message goes out, `record` after."""

    def __init__(self, db: Database, issue_id: str):
        self.db = db
        self.issue_id = issue_id
        self._pending: list[_Change] = []
        self._wake = asyncio.Event()
        self._connection: Connection | None = None
        self._set_state = DriverStatement(_SET_STATE, db.engine.dialect, _SET_STATE_NAMES)
        self._closed = False

    async def claim(self, recipient: Recipient, attempts: int) -> bool:
        """Mark the row `sending`; False (and the row `skipped`) if the subscriber is no longer
        active, or was erased, since the recipients were frozen."""
        return await self._submit(_Change(recipient.key, recipient.subscriber_id, State.SENDING,
                                          attempts=attempts))

    def record(self, recipient: Recipient, state: State, attempts: int, reply: str,
               message_id: str = "") -> None:
        """The outcome of a message; a bounce also makes the subscriber `bounced` (suppressed).

        Not awaited: changes commit in order, so the connection's next `claim` (which is awaited)
        commits this outcome too, in the same transaction or an earlier one. Hence at most one
        row per connection can be `sending` with its outcome unrecorded.
        """
        self._pending.append(_Change(recipient.key, recipient.subscriber_id, state, attempts,
                                     reply[:500], message_id))
        self._wake.set()

    async def _submit(self, change: _Change) -> bool:
        change.future = asyncio.get_running_loop().create_future()
        self._pending.append(change)
        self._wake.set()
        return await change.future

    async def run(self) -> None:
        """Commit what gathered, repeatedly, until `close()`; each batch in one transaction.

        Commits run on the event loop's thread: a commit is ~0.3 ms of CPU, less than handing it to
        a thread and waiting for the GIL to come back.
        """
        while not (self._closed and not self._pending):
            await self._wake.wait()
            await asyncio.sleep(GATHER_SECONDS)  # let the other connections add to this batch
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                results = self._commit(batch)
            except BaseException as exc:  # the database failed: every waiter must hear of it
                for change in batch:
                    if change.future is not None and not change.future.done():
                        change.future.set_exception(exc)
                raise
            for change, result in zip(batch, results, strict=True):
                if change.future is not None:
                    change.future.set_result(result)

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    def shutdown(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def _commit(self, batch: list[_Change]) -> list[bool]:
        now = utcnow()
        if self._connection is None:
            self._connection = self.db.writer_connection()
        connection = self._connection
        with connection.begin():
            claims = [c.subscriber_id for c in batch if c.state is State.SENDING]
            active = set(connection.scalars(_ACTIVE_AMONG, {"ids": claims})) if claims else set()
            params, results, bounces = [], [], []
            for change in batch:
                ok = change.state is not State.SENDING or change.subscriber_id in active
                state, reply = change.state, change.reply
                if not ok:
                    state, reply = State.SKIPPED, "no longer an active subscriber"
                params.append((change.key, state.value, change.attempts, reply, change.message_id,
                               now, now if state is State.SENT else None))
                results.append(ok)
                if state is State.BOUNCED and change.subscriber_id:
                    bounces.append(change)
            self._set_state.run(connection, params)
            if bounces:
                self._suppress(connection, bounces, now)
        return results

    def _suppress(self, connection, bounces: list[_Change], now) -> None:
        """Hard bounces make the subscriber `bounced`, with the reply, in the same transaction."""
        with Session(bind=connection) as session:
            for change in bounces:
                subscriber = session.get(Subscriber, change.subscriber_id)
                if subscriber is not None:
                    change_status(session, subscriber, Status.BOUNCED, actor="sender",
                                  reason=f"{change.reply} (issue {self.issue_id})", when=now)
            session.flush()
