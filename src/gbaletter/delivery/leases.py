"""Several senders on one send: workers, and the leases on the journal rows they hold.

Processes on one host or on several, one database: each registers as a `SendWorker` and takes
rows in small batches (`claim_batch`: FOR UPDATE SKIP LOCKED on PostgreSQL, so workers never wait
for each other's batches). A claimed row carries the worker and a lease; its `sending` claim (the
writer's, `writer.JournalWriter.claim`) succeeds only while the row is still that worker's, so no
row is sent by two workers. Leases are renewed while the worker lives (`renew`); the rows of a
worker that died (SIGKILL, a lost host) go back to the others when its lease runs out, except the
`sending` ones, which are uncertain as after any crash.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any
from datetime import datetime, timedelta

from weakref import WeakKeyDictionary

from sqlalchemy import ColumnElement, Integer, and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import ReturningUpdate
from sqlalchemy.orm import Session

from ..db import Database, utcnow
from ..db.bulk import InLookup, driver_value
from ..subscribers.models import Status, Subscriber
from .message import Recipient
from .models import Delivery, SendWorker, State

PAGE = 500  # rows per statement when renewing or releasing many
deliveries = Delivery.__table__


def alive_workers(issue_id: str, lease: float, now: datetime) -> ColumnElement[bool]:
    """Workers of the issue that have not finished and were heard of within a lease."""
    return and_(SendWorker.issue_id == issue_id, SendWorker.finished_at.is_(None),
                SendWorker.heartbeat_at > now - timedelta(seconds=lease))


def went_quiet(session: Session, issue_id: str, name: str, since: datetime, lease: float) -> bool:
    """Whether the process `name` has been done with the issue for more than a lease: its last
    worker started at or after `since` finished, or stopped renewing its heartbeat, that long ago.

    This is how a process on another host is known to be gone (its pid cannot be asked). False
    when it registered no worker since then: it may still be preparing its send.
    """
    last = session.scalars(select(SendWorker).where(
        SendWorker.issue_id == issue_id, SendWorker.name == name, SendWorker.started_at >= since)
        .order_by(SendWorker.id.desc()).limit(1)).first()
    if last is None:
        return False
    return (last.finished_at or last.heartbeat_at) < utcnow() - timedelta(seconds=lease)


def register_worker(db: Database, issue_id: str, name: str) -> int:
    now = utcnow()
    with db.session() as session:
        worker = SendWorker(issue_id=issue_id, name=name, started_at=now, heartbeat_at=now)
        session.add(worker)
        session.flush()
        return worker.id


def end_workers(db: Database, issue_id: str, gone: Callable[[str], bool]) -> int:
    """Workers of the issue that never finished and that `gone(name)` knows to be gone (a process
    of this host that no longer runs): finished now, and the rows they held anyone's again at
    once, rather than when their leases run out. Returns how many."""
    with db.session() as session:
        ended = [worker.id for worker in session.scalars(select(SendWorker).where(
            SendWorker.issue_id == issue_id, SendWorker.finished_at.is_(None))) if gone(worker.name)]
        if ended:
            session.execute(update(SendWorker.__table__).where(SendWorker.__table__.c.id.in_(ended))
                            .values(finished_at=utcnow()))
            session.execute(update(deliveries).where(
                deliveries.c.issue_id == issue_id, deliveries.c.worker.in_(ended),
                deliveries.c.lease_until.is_not(None)).values(lease_until=None))
    return len(ended)


def claim_batch(db: Database, issue_id: str, state: State, worker: int, size: int,
                lease: float, after: int = 0) -> list[Recipient]:
    """Up to `size` rows in `state` that nobody holds, now held by `worker` for `lease` seconds.

    One UPDATE of rows picked with FOR UPDATE SKIP LOCKED (on PostgreSQL; SQLite has one writer
    at a time anyway), in id order, in a transaction that does not take the list's write lock.
    A row is tried by one worker per run, as by a sender alone: rows up to `after` (where the
    worker's previous batch in this state ended) are taken only if another worker had them, so
    its own rows back in the queue (a retry waiting, a sender problem, a row deferred this run)
    are not handed to it twice; and a row that another worker tried during this run (it has a
    reply from after the start of the first of the issue's workers still at work) waits for the
    next run, so that a refused row does not go from worker to worker, each trying it afresh.
    Rows a stopped or dead worker held but never tried are anyone's.
    """
    now = utcnow()
    with db.engine.connect() as connection, connection.begin():
        taken: Sequence[tuple[int, int | None, str]] = connection.execute(_CLAIM, {
            "c_issue": issue_id, "c_state": state.value, "c_now": now, "c_after": after, "c_worker": worker,
            "c_alive_since": now - timedelta(seconds=lease), "c_until": now + timedelta(seconds=lease),
            "c_size": size}).all()
        if not taken:
            return []
        lookup, active = _subscribers_lookup(db)
        subscribers = {sub_id: (email, name, status == active) for sub_id, email, name, status in lookup.fetch(
            connection, [sub_id for _, sub_id, _ in taken if sub_id is not None])}
    return [Recipient(key=row_id, subscriber_id=sub_id or 0, email=email or "", name=name or "",
                      language=language or "", active=is_active)
            for row_id, sub_id, language in sorted(taken, key=lambda row: row[0])
            for email, name, is_active in [subscribers.get(sub_id, ("", "", False))]]


def _claim_statement() -> ReturningUpdate[Any]:
    """`claim_batch`'s UPDATE, built once (SQLAlchemy then compiles it once per dialect): built
    afresh per batch, with an IN of the batch's ids, it cost more than running it."""
    issue = bindparam("c_issue", type_=deliveries.c.issue_id.type)
    worker = bindparam("c_worker", type_=deliveries.c.worker.type)
    workers = SendWorker.__table__
    started = (select(func.min(workers.c.started_at))
               .where(or_(workers.c.id == worker,
                          and_(workers.c.issue_id == issue, workers.c.finished_at.is_(None),
                               workers.c.heartbeat_at > bindparam("c_alive_since"))))
               .scalar_subquery())
    free = (select(deliveries.c.id)
            .where(deliveries.c.issue_id == issue, deliveries.c.state == bindparam("c_state"),
                   or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < bindparam("c_now")),
                   or_(deliveries.c.id > bindparam("c_after"), deliveries.c.worker.is_(None),
                       deliveries.c.worker != worker),
                   or_(deliveries.c.last_reply == "", deliveries.c.updated_at < started))
            .order_by(deliveries.c.id).limit(bindparam("c_size", type_=Integer))
            .with_for_update(skip_locked=True))
    return (update(deliveries).where(deliveries.c.id.in_(free.scalar_subquery()))
            .values(worker=worker, lease_until=bindparam("c_until", type_=deliveries.c.lease_until.type))
            .returning(deliveries.c.id, deliveries.c.subscriber_id, deliveries.c.edition))


_CLAIM = _claim_statement()
# the claimed rows' subscribers: an IN compiled once per number of rows, run on the driver's
# cursor; with the value of `active` as the driver gives the status back
_lookups: WeakKeyDictionary[Dialect, tuple[InLookup, Any]] = WeakKeyDictionary()


def _subscribers_lookup(db: Database) -> tuple[InLookup, Any]:
    dialect = db.engine.dialect
    found = _lookups.get(dialect)
    if found is None:
        table = Subscriber.__table__
        found = _lookups[dialect] = (
            InLookup(dialect, (table.c.id, table.c.email, table.c.name, table.c.status), table.c.id),
            driver_value(table.c.status.type, dialect, Status.ACTIVE))
    return found


def next_release(db: Database, issue_id: str, state: State, worker: int) -> datetime | None:
    """When the first row in `state` that another worker holds is free again (None: no such row).

    A time in the past is a lease that ran out since the caller's last claim (its worker died):
    the caller claims again at once. Leaving such rows out would let the last workers finish
    while a dead worker's rows sit in the queue, if its lease ran out between their last claim
    and this look.
    """
    with db.reader() as session:
        return session.scalar(select(func.min(Delivery.lease_until)).where(
            Delivery.issue_id == issue_id, Delivery.state == state.value,
            Delivery.lease_until.is_not(None), Delivery.worker != worker))


def renew(db: Database, issue_id: str, worker: int, held: Collection[int], lease: float) -> int:
    """The worker is alive: its heartbeat, and `lease` more seconds on the rows it holds; returns
    how many workers of the issue are alive (the --rate is shared among them)."""
    now = utcnow()
    with db.engine.connect() as connection, connection.begin():
        keys = list(held)
        for start in range(0, len(keys), PAGE):
            connection.execute(update(deliveries).where(
                deliveries.c.id.in_(keys[start:start + PAGE]), deliveries.c.worker == worker,
                deliveries.c.lease_until.is_not(None)).values(lease_until=now + timedelta(seconds=lease)))
        connection.execute(update(SendWorker.__table__).where(SendWorker.__table__.c.id == worker)
                           .values(heartbeat_at=now))
        return connection.scalar(select(func.count()).select_from(SendWorker).where(
            alive_workers(issue_id, lease, now))) or 1


def release(db: Database, worker: int, held: Collection[int]) -> None:
    """The worker is done: the rows it holds but did not begin are anyone's again."""
    keys = list(held)
    with db.engine.connect() as connection, connection.begin():
        for start in range(0, len(keys), PAGE):
            connection.execute(update(deliveries).where(
                deliveries.c.id.in_(keys[start:start + PAGE]), deliveries.c.worker == worker)
                .values(lease_until=None))
        connection.execute(update(SendWorker.__table__).where(SendWorker.__table__.c.id == worker)
                           .values(finished_at=utcnow()))


@dataclass(frozen=True)
class WorkerReport:
    name: str
    started_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None
    rows: dict[str, int]  # state -> rows this worker claimed last


def workers(session: Session, issue_id: str) -> list[WorkerReport]:
    """Every worker of the issue's sends and what became of the rows it handled."""
    done: dict[int | None, dict[str, int]] = {}
    for worker, state, number in session.execute(
            select(Delivery.worker, Delivery.state, func.count()).where(
                Delivery.issue_id == issue_id, Delivery.worker.is_not(None))
            .group_by(Delivery.worker, Delivery.state)):
        done.setdefault(worker, {})[state] = number
    return [WorkerReport(w.name, w.started_at, w.heartbeat_at, w.finished_at, done.get(w.id, {}))
            for w in session.scalars(select(SendWorker).where(SendWorker.issue_id == issue_id)
                                     .order_by(SendWorker.id))]
