"""The group-commit writer of the send journal's rows.

Every state change of a row is committed before the next step that depends on it: the
connections hand their changes to one writer that commits whatever has gathered in a single
transaction, so a thousand messages a second cost a few hundred commits, not thousands. The writer
writes rows only; what a row's outcome does to its subscriber (a hard bounce: `bounced`) is
`effects.apply_row_outcomes`, in the same transaction, so a bounce commits with the row that says so.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, null, select, update
from sqlalchemy.engine import Dialect

from ..db import Database, utcnow
from ..db.bulk import DriverStatement
from ..subscribers.models import Status, Subscriber
from . import effects
from .message import Recipient
from .models import Delivery, State

# How long the writer lets changes gather before a commit: more rows per commit, fewer commits,
# at the price of this much latency on each claim.
GATHER_SECONDS = 0.002
deliveries = Delivery.__table__


@dataclass
class _Change:
    key: int
    subscriber_id: int
    state: State
    attempts: int = 0
    reply: str = ""
    message_id: str = ""
    future: asyncio.Future | None = None


# (every change ends the row's lease: a row being sent, or done, is nobody's to claim)
_SET_STATE = (update(deliveries).where(deliveries.c.id == bindparam("b_key"))
              .values(state=bindparam("b_state"), attempts=bindparam("b_attempts"),
                      last_reply=bindparam("b_reply"), message_id=bindparam("b_message_id"),
                      updated_at=bindparam("b_now"), sent_at=bindparam("b_sent_at"), lease_until=null()))
_SET_STATE_NAMES = ("b_key", "b_state", "b_attempts", "b_reply", "b_message_id", "b_now", "b_sent_at")


# The claimed rows among some keys with their subscriber's status (None: erased), in one
# statement; with the worker, only the rows that worker still holds, locked until the claim
# commits. Compiled once per number of keys and run on the driver's cursor (`_ClaimCheck`):
# SQLAlchemy rendering the expanding IN and wrapping the result at every commit cost more than
# the statement itself.
_subscribers = Subscriber.__table__


class _ClaimCheck:
    """Of the rows to claim, those this worker holds, and those of them whose subscriber is
    still active: one SELECT per commit, compiled once per number of rows claimed."""

    def __init__(self, dialect: Dialect, worker: int | None):
        self.dialect, self.worker = dialect, worker
        status = _subscribers.c.status.type
        process = status.dialect_impl(dialect).bind_processor(dialect)
        self.active = process(Status.ACTIVE) if process else Status.ACTIVE  # as the driver returns it
        self._statements: dict[int, DriverStatement] = {}

    def _statement(self, count: int) -> DriverStatement:
        statement = self._statements.get(count)
        if statement is None:
            names = [f"k{i}" for i in range(count)]
            query = (select(deliveries.c.id, _subscribers.c.status)
                     .select_from(deliveries.outerjoin(_subscribers,
                                                       _subscribers.c.id == deliveries.c.subscriber_id))
                     .where(deliveries.c.id.in_([bindparam(name, type_=deliveries.c.id.type)
                                                 for name in names])))
            if self.worker is not None:
                query = query.where(deliveries.c.worker == bindparam("worker")).with_for_update(of=deliveries)
                names.append("worker")
            statement = self._statements[count] = DriverStatement(query, self.dialect, names)
        return statement

    def held_and_active(self, connection: Connection, keys: list[int]) -> tuple[set[int], set[int]]:
        values = keys if self.worker is None else [*keys, self.worker]
        rows = self._statement(len(keys)).fetch(connection, values)
        return {key for key, _ in rows}, {key for key, status in rows if status == self.active}


class JournalWriter:
    """Group commits for the send loop: `claim` before a message goes out, `record` after."""

    def __init__(self, db: Database, issue_id: str, worker: int | None = None):
        self.db = db
        self.issue_id = issue_id
        self.worker = worker  # claims succeed only for rows this worker holds
        self._pending: list[_Change] = []
        self._wake = asyncio.Event()
        self._connection: Connection | None = None
        self._set_state = DriverStatement(_SET_STATE, db.engine.dialect, _SET_STATE_NAMES)
        self._claim_check = _ClaimCheck(db.engine.dialect, worker)
        self._closed = False

    async def claim(self, recipient: Recipient, attempts: int) -> bool:
        """Mark the row `sending`; False (and the row `skipped`) if the subscriber is no longer
        active, or was erased, since the recipients were frozen; False (and the row left alone)
        if another worker took the row over (this worker's lease ran out)."""
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
            self._connection = self.db.rows_writer_connection()
        connection = self._connection
        with connection.begin():
            if any(effects.changes_subscriber(change.state) for change in batch):
                # subscribers will change: like every writer of the list, one at a time (and
                # first thing, before this transaction holds any row another writer may want)
                self.db.take_write_lock(connection)
            claims = [c.key for c in batch if c.state is State.SENDING]
            held, active = self._claim_check.held_and_active(connection, claims) if claims else (set(), set())
            params, results, outcomes = [], [], []
            for change in batch:
                if change.state is State.SENDING and change.key not in held:
                    results.append(False)  # another worker's row now: not ours to touch
                    continue
                ok = change.state is not State.SENDING or change.key in active
                state, reply = change.state, change.reply
                if not ok:
                    state, reply = State.SKIPPED, "no longer an active subscriber"
                params.append((change.key, state.value, change.attempts, reply, change.message_id,
                               now, now if state is State.SENT else None))
                results.append(ok)
                if effects.changes_subscriber(state) and change.subscriber_id:
                    outcomes.append(effects.RowOutcome(change.subscriber_id, state, reply))
            self._set_state.run(connection, params)
            if outcomes:
                effects.apply_row_outcomes(connection, self.issue_id, outcomes, now)
        return results
