"""The group-commit writer of the send journal's rows.

Every state change of a row is committed before the next step that depends on it: the
connections hand their changes to one writer that commits whatever has gathered in a single
transaction, so a thousand messages a second cost a few hundred commits, not thousands. The writer
writes rows only; what a row's outcome does to its subscriber (a hard bounce: `bounced`) is
`effects.apply_row_outcomes`, in the same transaction, so a bounce commits with the row that says so.

A claim (`sending`) is a `Claim`: its connection can be told the moment the claim commits (a
callback, `Claim.then`) instead of waiting for it, so an SMTP transaction can start while the
claim commits and its message goes out the moment both the server and the claim say yes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, Update, bindparam, exists, null, select, update
from sqlalchemy.engine import Dialect

from ..db import Database, utcnow
from ..db.bulk import DriverStatement, driver_cursor, driver_value, rows_as_arrays, rows_statement
from ..subscribers.models import Status, Subscriber
from . import effects
from .message import Recipient
from .models import Delivery, State

SENDING, SENT = State.SENDING, State.SENT
_VALUES = {state: state.value for state in State}  # (an enum's .value is a Python-level lookup)
# the states that may change a row's subscriber (effects.changes_subscriber), as a set to test
_CHANGES_SUBSCRIBER = frozenset(state for state in State if effects.changes_subscriber(state))
_state = attrgetter("state")
# How long the writer lets changes gather before a commit: more rows per commit, fewer commits,
# at the price of this much latency on each claim. 4 ms against 2: ~8% less CPU a message and ~7%
# less rate into a local smtp-sink, whose replies come at once (`bench send 100000 16`, seven
# runs each, docs/benchmarks.md); a real relay's own latency dwarfs the 2 ms more.
GATHER_SECONDS = 0.004
deliveries = Delivery.__table__


class Claim:
    """A row's `sending` claim handed to the writer, settled when its transaction commits:
    `ok` True (the row is ours and `sending`, durably), False (skipped, or another worker's now),
    or the database's error. Awaiting it gives `ok` (or raises the error); `then` runs a callback
    once it is settled, without a future or a task's resume (the fast path of a send)."""

    __slots__ = ("_callback", "_future", "error", "ok")

    def __init__(self) -> None:
        self.ok: bool | None = None
        self.error: BaseException | None = None
        self._callback: Callable[[], None] | None = None
        self._future: asyncio.Future | None = None

    @property
    def settled(self) -> bool:
        return self.ok is not None or self.error is not None

    def then(self, callback: Callable[[], None] | None) -> None:
        """Call `callback` once settled (at once if it is); None: no callback any more."""
        self._callback = callback
        if callback is not None and self.settled:
            callback()

    def settle(self, ok: bool | None, error: BaseException | None = None) -> None:
        self.ok, self.error = ok, error
        if self._future is not None and not self._future.done():
            self._future.set_result(None)
        if self._callback is not None:
            self._callback()

    def __await__(self) -> Generator[Any, None, bool]:
        if not self.settled:
            self._future = asyncio.get_running_loop().create_future()
            yield from self._future
        if self.error is not None:
            raise self.error
        return bool(self.ok)


def _settle_all(batch: list[_Change], results: list[bool]) -> None:
    """Settle every claim of a committed batch, then raise what a claim's callback raised, if
    any: one failing connection must not leave the others' claims unsettled (their sends would
    wait for them for ever)."""
    failure: BaseException | None = None
    for change, result in zip(batch, results, strict=True):
        if change.claim is not None:
            try:
                change.claim.settle(result)
            except Exception as exc:  # raised below, after the rest are settled
                failure = failure or exc
    if failure is not None:
        raise failure


@dataclass(slots=True)
class _Change:
    key: int
    subscriber_id: int
    state: State
    attempts: int = 0
    reply: str = ""
    message_id: str = ""
    claim: Claim | None = None


def _set_state(value: Callable[[str], Any]) -> Update:
    """A row's change (`rows_statement`); every change ends the row's lease: a row being sent, or
    done, is nobody's to claim."""
    return (update(deliveries).where(deliveries.c.id == value("b_key"))
            .values(state=value("b_state"), attempts=value("b_attempts"), last_reply=value("b_reply"),
                    message_id=value("b_message_id"), updated_at=value("b_now"), sent_at=value("b_sent_at"),
                    lease_until=null()))


# in the order of the SQL's placeholders, so that SQLite's rows go to the driver as they are; the
# times are the commit's, converted once a commit
_SET_STATE_NAMES = ("b_state", "b_attempts", "b_reply", "b_message_id", "b_now", "b_sent_at", "b_key")
_SET_STATE_GIVEN = ("b_now", "b_sent_at")

# The claimed rows among some keys with their subscriber's status (None: erased), in one
# statement; with the worker, only the rows that worker still holds, locked until the claim
# commits. Compiled once per number of keys and run on the driver's cursor (`_ClaimCheck`):
# SQLAlchemy rendering the expanding IN and wrapping the result at every commit cost more than
# the statement itself.
_subscribers = Subscriber.__table__


class _ClaimCheck:
    """Of the rows to claim, those this worker holds, and those of them whose subscriber is
    still active: one SELECT of the claimed rows, compiled once per number of rows, only for a
    batch that changes a row twice, or after a claim's UPDATE did not hold (`JournalWriter._claims`)."""

    def __init__(self, dialect: Dialect, worker: int | None):
        self.dialect, self.worker = dialect, worker
        self.active = driver_value(_subscribers.c.status.type, dialect, Status.ACTIVE)
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

    def held_and_active(self, cursor: Any, keys: list[int]) -> tuple[set[int], set[int]]:
        values = keys if self.worker is None else [*keys, self.worker]
        rows = self._statement(len(keys)).fetch_on(cursor, values)
        return {key for key, _ in rows}, {key for key, status in rows if status == self.active}


# A claim as one UPDATE that holds only while the row is the worker's and its subscriber active
# (`JournalWriter._claim_in_update`); its binds in the order of the SQL's placeholders
_CLAIM_NAMES = ("b_state", "b_attempts", "b_reply", "b_message_id", "b_now", "b_key")


def _claim_update(worker: int | None, returning: bool) -> Callable[[Callable[[str], Any]], Update]:
    """The claim's UPDATE for `rows_statement`; `returning`: it returns the keys it claimed."""

    def claim(value: Callable[[str], Any]) -> Update:
        active = exists().where(_subscribers.c.id == deliveries.c.subscriber_id,
                                _subscribers.c.status == value("b_active"))
        held = deliveries.c.id == value("b_key")
        if worker is not None:
            held &= deliveries.c.worker == value("b_worker")
        statement = (update(deliveries).where(held, active)
                     .values(state=value("b_state"), attempts=value("b_attempts"), last_reply=value("b_reply"),
                             message_id=value("b_message_id"), updated_at=value("b_now"), sent_at=null(),
                             lease_until=null()))
        return statement.returning(deliveries.c.id) if returning else statement

    return claim


class JournalWriter:
    """Group commits for the send loop: `claim` before a message goes out, `record` after."""

    def __init__(self, db: Database, issue_id: str, worker: int | None = None):
        self.db = db
        self.issue_id = issue_id
        self.worker = worker  # claims succeed only for rows this worker holds
        self._pending: list[_Change] = []
        self._wake = asyncio.Event()
        self._connection: Connection | None = None
        dialect = db.engine.dialect
        self._set_state = rows_statement(_set_state, dialect, _SET_STATE_NAMES, given=_SET_STATE_GIVEN)
        self._claim_check = _ClaimCheck(dialect, worker)
        names = (*_CLAIM_NAMES, *(("b_worker",) if worker is not None else ()), "b_active")
        # PostgreSQL: other transactions commit between the claims' UPDATE and a check after it,
        # so the UPDATE says which rows it claimed (SQLite: the file's write lock is held throughout)
        self._claims_returned = rows_as_arrays(dialect)
        self._claim = rows_statement(_claim_update(worker, self._claims_returned), dialect, names,
                                     given=("b_now", "b_active"))
        self._closed = False

    def claim(self, recipient: Recipient, attempts: int) -> Claim:
        """Mark the row `sending` with the next commit; the claim settles False (and the row
        `skipped`) if the subscriber is no longer active, or was erased, since the recipients were
        frozen; False (and the row left alone) if another worker took the row over (this worker's
        lease ran out)."""
        claim = Claim()
        self._pending.append(_Change(recipient.key, recipient.subscriber_id, State.SENDING,
                                     attempts=attempts, claim=claim))
        self._wake.set()
        return claim

    def record(self, recipient: Recipient, state: State, attempts: int, reply: str,
               message_id: str = "") -> None:
        """The outcome of a message; a bounce also makes the subscriber `bounced` (suppressed).

        Not awaited: changes commit in order, so the connection's next `claim` (whose message
        goes out only once it committed) commits this outcome too, in the same transaction or an
        earlier one. Hence at most one row per connection can be `sending` with its outcome
        unrecorded.
        """
        # (PostgreSQL's text cannot hold a NUL, which a hostile server's reply may carry)
        self._pending.append(_Change(recipient.key, recipient.subscriber_id, state, attempts,
                                     reply[:500].replace("\0", ""), message_id))
        self._wake.set()

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
            except BaseException as exc:  # the database failed: every claim must hear of it
                for change in batch:
                    if change.claim is not None:
                        change.claim.settle(None, exc)
                raise
            _settle_all(batch, results)

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    def shutdown(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def _commit(self, batch: list[_Change]) -> list[bool]:
        """One transaction for `batch`; each change's result (for a claim: whether it holds).

        Most commits only change rows: they run on the driver's connection, without SQLAlchemy's
        transaction (`Database.rows_transaction`). A commit that may change subscribers (a
        bounce) goes through SQLAlchemy's, as its changes go through the ORM (`effects`).
        """
        now = utcnow()
        if self._connection is None:
            self._connection = self.db.rows_writer_connection()
        connection = self._connection
        if not any(map(_CHANGES_SUBSCRIBER.__contains__, map(_state, batch))):  # (C loops)
            with self.db.rows_transaction(connection) as cursor:
                results, outcomes = self._write(cursor, batch, now)
                if outcomes:  # a state that changes subscribers but is not in _CHANGES_SUBSCRIBER
                    raise RuntimeError("the journal writer: a commit of rows only changed subscribers")
                return results
        with connection.begin(), driver_cursor(connection) as cursor:
            # subscribers will change: like every writer of the list, one at a time (and first
            # thing, before this transaction holds any row another writer may want)
            self.db.take_write_lock(connection)
            results, outcomes = self._write(cursor, batch, now)
            if outcomes:
                effects.apply_row_outcomes(connection, self.issue_id, outcomes, now)
        return results

    def _write(self, cursor: Any, batch: list[_Change], now: datetime) -> tuple[list[bool], list[effects.RowOutcome]]:
        """The batch's rows, in the caller's transaction; each change's result, and what the
        changes do to subscribers (for `effects`)."""
        stamp = self._set_state.driver_value("b_now", now)
        claimed, held, active = self._claims(cursor, batch, stamp)
        params, results, outcomes = [], [], []
        for change in batch:
            state, reply = change.state, change.reply
            if state is SENDING:
                if change.key in claimed:
                    results.append(True)  # `sending` already
                    continue
                if change.key not in held:
                    results.append(False)  # another worker's row now: not ours to touch
                    continue
                if change.key not in active:
                    state, reply = State.SKIPPED, "no longer an active subscriber"
            results.append(state is change.state)
            params.append((_VALUES[state], change.attempts, reply, change.message_id,
                           stamp, stamp if state is SENT else None, change.key))
            if state in _CHANGES_SUBSCRIBER and change.subscriber_id:
                outcomes.append(effects.RowOutcome(change.subscriber_id, state, reply))
        if params:
            # a row changed twice in this batch (a retry's record, then its claim) gets its last
            # change, which sets every column: its end state in order; PostgreSQL's one UPDATE
            # for all the rows (`rows_statement`) would apply one of the two, which is not defined
            rows = list({row[-1]: row for row in params}.values())
            self._set_state.execute_on(cursor, self._set_state.convert(rows))
        return results, outcomes

    def _claims(self, cursor: Any, batch: list[_Change], stamp: Any) -> tuple[set[int], set[int], set[int]]:
        """The batch's claims: those already made (`sending`), and of the others those this
        worker holds and those whose subscriber is active (`_write` settles them), by at most one
        SELECT (`_ClaimCheck`)."""
        claims = [change.key for change in batch if change.state is SENDING]
        if not claims:
            return set(), set(), set()
        if len({change.key for change in batch}) < len(batch):
            return set(), *self._claim_check.held_and_active(cursor, claims)
        made = self._claim_in_update(cursor, batch, claims, stamp)
        if len(made) == len(claims):
            return made, set(), set()
        held, active = self._claim_check.held_and_active(cursor, claims)
        return (made if self._claims_returned else held & active), held, active

    def _claim_in_update(self, cursor: Any, batch: list[_Change], claims: list[int], stamp: Any) -> set[int]:
        """The batch's claims made by an UPDATE that holds only if the row is the worker's and
        its subscriber active (on PostgreSQL one UPDATE for all, `rows_statement`), instead of a
        SELECT of both first (~12,000 instructions a message on SQLite, docs/benchmarks.md); the
        keys it claimed. When not every claim held (rare: another worker's row, an unsubscribe
        since the freeze), the check tells which rows are held and active (`_claims`): SQLite's
        write lock holds between the two, so those are the claimed rows; on PostgreSQL a row may
        change in between, and the UPDATE returns the rows it claimed. Only for a batch that
        changes each row once, as these UPDATEs run before the batch's other changes.
        """
        active = self._claim_check.active
        ours = (active,) if self.worker is None else (self.worker, active)
        rows = [(_VALUES[SENDING], change.attempts, "", "", stamp, change.key, *ours)
                for change in batch if change.state is SENDING]
        changed = self._claim.execute_on(cursor, self._claim.convert(rows))
        if self._claims_returned:
            return {key for (key,) in cursor.fetchall()}
        return set(claims) if changed == len(claims) else set()
