"""The journal writer's claims, made by an UPDATE that holds only while the row is the worker's
and its subscriber active (on PostgreSQL one statement for all of a commit's claims): in one
commit, a claim that holds, one of a row another worker took over, and one of a subscriber who
unsubscribed since the claim settle as the claim check's SELECT settled them; a row recorded and
claimed again in one commit keeps that order."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from gbaletter.db import open_database, utcnow
from gbaletter.delivery import journal, leases
from gbaletter.delivery.models import Delivery, State
from gbaletter.delivery.sender import run_async
from gbaletter.delivery.writer import JournalWriter
from gbaletter.subscribers.models import Subscriber
from gbaletter.subscribers.segments import segment_filter
from gbaletter.subscribers.service import add_subscriber
from gbaletter.subscribers.status import Status
from support.sending import ISSUE


def _claimed(workspace, addresses: list[str]):
    db = open_database(workspace)
    with db.session() as session:
        for address in addresses:
            add_subscriber(session, address)
        journal.freeze(session, ISSUE, "all", segment_filter(session, "all"))
    worker = leases.register_worker(db, ISSUE, "a:1")
    return db, worker, leases.claim_batch(db, ISSUE, State.QUEUED, worker, 10, lease=60)


def _commit_at_once(db, worker, steps) -> list[bool]:
    """`steps` (writer -> claim or None) handed to a writer before it runs: one commit."""
    async def run() -> list[bool]:
        import asyncio

        writer = JournalWriter(db, ISSUE, worker)
        claims = [claim for step in steps if (claim := step(writer)) is not None]
        runner = asyncio.create_task(writer.run())
        results = [await claim for claim in claims]
        writer.close()
        await runner
        writer.shutdown()
        return results

    return run_async(run())


def _rows(db) -> list[tuple[str, str, int | None]]:
    with db.reader() as session:
        return [tuple(row) for row in session.execute(sa.select(
            Delivery.state, Delivery.last_reply, Delivery.worker).order_by(Delivery.id))]


def test_claims_in_one_commit_settle_each_by_its_row_and_subscriber(workspace):
    db, worker, (held, taken, gone) = _claimed(workspace, ["a@example.org", "b@example.org", "c@example.org"])
    other = leases.register_worker(db, ISSUE, "b:2")
    with db.session() as session:  # the second row's lease ran out and another worker took it
        session.execute(sa.update(Delivery).where(Delivery.id == taken.key)
                        .values(worker=other, lease_until=utcnow() + timedelta(seconds=60)))
        session.execute(sa.update(Subscriber).where(Subscriber.id == gone.subscriber_id)
                        .values(status=Status.UNSUBSCRIBED))
    assert _commit_at_once(db, worker, [lambda w, r=r: w.claim(r, 1) for r in (held, taken, gone)]) == [
        True, False, False]
    assert _rows(db) == [("sending", "", worker), ("queued", "", other),
                         ("skipped", "no longer an active subscriber", worker)]


def _joins_by_nested_loops(db) -> None:
    """PostgreSQL: every connection joins by nested loops from here on, the plan in which an
    UPDATE ... FROM over two rows of one key applies the first (a small batch's usual plan)."""
    if db.engine.dialect.name != "postgresql":
        return

    def plan(driver_connection, _record, _proxy) -> None:
        driver_connection.execute("SET enable_hashjoin = off")
        driver_connection.execute("SET enable_mergejoin = off")
        driver_connection.commit()

    sa.event.listen(db.engine, "checkout", plan)


def test_a_row_recorded_then_claimed_again_in_one_commit_ends_claimed(workspace):
    db, worker, [row] = _claimed(workspace, ["a@example.org"])
    _joins_by_nested_loops(db)
    assert _commit_at_once(db, worker, [lambda w: w.claim(row, 1)]) == [True]
    steps = [lambda w: w.record(row, State.QUEUED, 1, "421 try again later"), lambda w: w.claim(row, 2)]
    assert _commit_at_once(db, worker, steps) == [True]
    assert _rows(db) == [("sending", "", worker)]


def test_a_row_claimed_then_given_back_in_one_commit_ends_queued(workspace):
    """The send stopping between a claim and its message: the row is given back, not left
    `sending` (which a resumed send would count as perhaps sent)."""
    db, worker, [row] = _claimed(workspace, ["a@example.org"])
    _joins_by_nested_loops(db)
    steps = [lambda w: w.claim(row, 1), lambda w: w.record(row, State.QUEUED, 0, "not sent: the send stopped")]
    assert _commit_at_once(db, worker, steps) == [True]
    assert _rows(db) == [("queued", "not sent: the send stopped", worker)]


def test_a_nul_in_a_reply_is_dropped_not_a_failed_commit(workspace):
    """A hostile server's reply may carry a NUL, which PostgreSQL's text cannot hold."""
    db, worker, [row] = _claimed(workspace, ["a@example.org"])
    steps = [lambda w: w.claim(row, 1), lambda w: w.record(row, State.DEFERRED, 1, "451 \0bad\0 reply")]
    assert _commit_at_once(db, worker, steps) == [True]
    assert _rows(db) == [("deferred", "451 bad reply", worker)]
