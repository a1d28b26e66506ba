"""Many senders on one send, against a real PostgreSQL: claims, leases, a worker SIGKILLed.

Three `gbaletter issue send` processes work on one send, as on three hosts; one of them is killed
with SIGKILL at a random moment, five times over. Counted at the SMTP server and in the journal:
nobody lost, no duplicate outside the rows reported uncertain, every row accounted for.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gbaletter.config import SmtpSettings, load_workspace
from gbaletter.db import open_database, utcnow
from gbaletter.delivery import journal, leases
from gbaletter.delivery.message import Recipient
from gbaletter.delivery.models import Delivery, SendWorker, State
from gbaletter.delivery.sender import SendOptions
from gbaletter.delivery.workers import send_with_workers
from gbaletter.delivery.writer import JournalWriter
from gbaletter.subscribers.models import Subscriber
from gbaletter.subscribers.segments import segment_filter
from support.seeds import run_seed
from support.sending import ISSUE
from support.smtp_server import FaultyHandler, start_server

RECIPIENTS = 1200
WORKERS = 3
CONCURRENCY = 4
LEASE = 2.0  # seconds: a killed worker's claimed rows come back this soon after its last heartbeat
ROUNDS = 5


@pytest.fixture
def send_env(sample_workspace, monkeypatch):
    """A fresh SMTP server, the secret and the SMTP settings in the environment, a short lease."""
    config = sample_workspace / "gbaletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("[smtp]\n", f"[smtp]\nlease = {LEASE}\n"),
                      encoding="utf-8")
    handler = FaultyHandler()
    server = start_server(handler)
    values = {"GBALETTER_SECRET": "workers-test-secret-0123456789", "GBALETTER_SMTP_HOST": "127.0.0.1",
              "GBALETTER_SMTP_PORT": str(server.port), "GBALETTER_SMTP_TLS": "none"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    yield handler
    server.stop()


def _readers(root, run_cli) -> None:
    rows = "".join(f"r{n}@example.org,Reader {n},technology\n" for n in range(RECIPIENTS))
    (root / "readers.csv").write_text("email,name,tags\n" + rows, encoding="utf-8")
    result = run_cli(root, "subscribers", "import", str(root / "readers.csv"))
    assert result.exit_code == 0, result.stderr


def _worker(root) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "send", ISSUE, "--segment",
         "tag:technology", "--concurrency", str(CONCURRENCY)],
        env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _has_claimed(db, pid: int) -> bool:  # type: ignore[no-untyped-def]
    """Whether the worker process `pid` has registered and holds or handled rows: it is sending."""
    with db.reader() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Delivery).join(
            SendWorker, SendWorker.id == Delivery.worker).where(SendWorker.name.endswith(f":{pid}"))) > 0


def _victim_left_or_ended_by_a_latecomer(reports, pid: int, killed_at, seed) -> None:  # type: ignore[no-untyped-def]
    """The others finished; the victim is left unfinished, or was ended after its death by a worker
    that was still starting then. A worker starting ends the workers of this host whose process is
    gone (leases.end_workers, in sender._freeze, before it registers), and the victim is gone once
    `communicate` has reaped it (a zombie still answers kill(pid, 0)): with the victim reaped first
    and a third worker slow to start (a loaded machine, a kill early in the send), that is a
    legitimate outcome (it failed the test once, on PostgreSQL)."""
    [dead] = [report for report in reports if report.name.endswith(f":{pid}")]
    assert all(report.finished_at is not None for report in reports if report is not dead), (seed, reports)
    assert dead.finished_at is None or (dead.finished_at >= killed_at and any(
        report.started_at >= dead.finished_at for report in reports if report is not dead)), (seed, reports)


def _one_round(root, run_cli, handler, rng, seed) -> None:
    handler.received.clear()
    workers = [_worker(root) for _ in range(WORKERS)]
    victim = rng.randrange(WORKERS)
    kill_at = rng.randrange(RECIPIENTS // 10, RECIPIENTS * 6 // 10)
    deadline = time.monotonic() + 120
    db = open_database(load_workspace(root))
    while (len(handler.received) < kill_at or not _has_claimed(db, workers[victim].pid)) \
            and workers[victim].poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert workers[victim].poll() is None, f"the victim ended before the kill (seed {seed})"
    killed_at = utcnow()
    os.kill(workers[victim].pid, signal.SIGKILL)
    for number, worker in enumerate(workers):
        _, stderr = worker.communicate(timeout=120)
        if number != victim:  # done, or done but for the victim's uncertain rows
            assert worker.returncode in (0, 3), (seed, stderr)

    with db.reader() as session:
        states = journal.counts(session, ISSUE)
        uncertain = {p.email for p in journal.problems(session, ISSUE, (State.SENDING,), limit=1000)}
        reports = leases.workers(session, ISSUE)
    counts = handler.counts()
    # every row accounted for: sent, or in flight at the victim when it died (uncertain)
    assert states["sent"] + states["sending"] == RECIPIENTS, (seed, states)
    assert 0 < states["sending"] <= CONCURRENCY or states["sending"] == 0, (seed, states)
    assert len(uncertain) == states["sending"]
    assert max(counts.values()) == 1, f"a row sent twice (seed {seed})"
    missing = {f"r{n}@example.org" for n in range(RECIPIENTS)} - set(counts)
    assert missing <= uncertain, f"lost: {sorted(missing - uncertain)[:5]} (seed {seed})"
    assert len(reports) == WORKERS
    _victim_left_or_ended_by_a_latecomer(reports, workers[victim].pid, killed_at, seed)
    assert sum(sum(report.rows.values()) for report in reports) == RECIPIENTS

    final = run_cli(root, "issue", "send", ISSUE, "--segment", "tag:technology", "--resend-uncertain")
    assert final.exit_code == 0, (seed, final.stderr)
    counts = handler.counts()
    assert set(counts) == {f"r{n}@example.org" for n in range(RECIPIENTS)}
    duplicates = {address for address, n in counts.items() if n > 1}
    assert duplicates <= uncertain, (seed, duplicates)
    with db.reader() as session:
        assert journal.counts(session, ISSUE)["sent"] == RECIPIENTS
    status = run_cli(root, "issue", "status", ISSUE)
    assert status.exit_code == 0 and status.output.count(":") >= WORKERS, status.output
    db.dispose()


def test_three_workers_one_killed_five_times(sample_workspace, run_cli, send_env, postgres,
                                            monkeypatch):
    seed = run_seed()
    rng = random.Random(seed)
    assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
    for _ in range(ROUNDS):
        database = postgres.create_database()
        monkeypatch.setenv("GBALETTER_DATABASE_URL", database)
        try:
            _readers(sample_workspace, run_cli)
            _one_round(sample_workspace, run_cli, send_env, rng, seed)
        finally:
            postgres.drop_database(database)


def test_a_row_taken_over_after_its_lease_is_not_sent_by_the_first_worker(workspace, postgres_database,
                                                                       monkeypatch):
    """Worker A stalls past its lease; B claims the row; A's claim to send it fails, B's succeeds."""
    monkeypatch.setenv("GBALETTER_DATABASE_URL", postgres_database)
    db = open_database(workspace)
    from gbaletter.subscribers.service import add_subscriber

    with db.session() as session:
        add_subscriber(session, "one@example.org")
        journal.freeze(session, ISSUE, "all", segment_filter(session, "all"))
    first, second = (leases.register_worker(db, ISSUE, name) for name in ("a:1", "b:2"))
    [row] = leases.claim_batch(db, ISSUE, State.QUEUED, first, 10, lease=60)
    assert leases.claim_batch(db, ISSUE, State.QUEUED, second, 10, lease=60) == []  # held by A
    with db.session() as session:  # A's lease runs out
        session.execute(sa.update(Delivery).values(lease_until=utcnow() - timedelta(seconds=1)))
    [taken] = leases.claim_batch(db, ISSUE, State.QUEUED, second, 10, lease=60)
    assert taken.key == row.key

    async def claims() -> list[bool]:
        import asyncio

        results = []
        for worker in (first, second):
            writer = JournalWriter(db, ISSUE, worker)
            runner = asyncio.create_task(writer.run())
            results.append(await writer.claim(Recipient(row.key, row.subscriber_id, row.email, ""), 1))
            writer.close()
            await runner
            writer.shutdown()
        return results

    from gbaletter.delivery.sender import run_async

    assert run_async(claims()) == [False, True]
    with db.reader() as session:
        assert session.scalar(sa.select(Delivery.state)) == State.SENDING
        assert session.scalar(sa.select(Delivery.worker)) == second


def test_workers_alive_share_the_rate(workspace, postgres_database, monkeypatch):
    monkeypatch.setenv("GBALETTER_DATABASE_URL", postgres_database)
    db = open_database(workspace)
    ids = [leases.register_worker(db, ISSUE, f"host:{n}") for n in range(3)]
    assert leases.renew(db, ISSUE, ids[0], (), lease=60) == 3
    leases.release(db, ids[2], ())
    assert leases.renew(db, ISSUE, ids[0], (), lease=60) == 2
    with db.session() as session:  # a worker not heard of for a lease is gone
        session.execute(sa.text("UPDATE send_workers SET heartbeat_at = :old WHERE id = :id"),
                        {"old": (utcnow() - timedelta(seconds=61)).replace(tzinfo=None), "id": ids[1]})
    assert leases.renew(db, ISSUE, ids[0], (), lease=60) == 1


def _built_for_readers(root, run_process, count: int) -> None:  # type: ignore[no-untyped-def]
    rows = "".join(f"r{n}@example.org,Reader {n},technology\n" for n in range(count))
    (root / "readers.csv").write_text("email,name,tags\n" + rows, encoding="utf-8")
    for command in (("issue", "build", ISSUE), ("subscribers", "import", str(root / "readers.csv"))):
        assert run_process(root, *command).returncode == 0


def test_workers_option_sends_each_member_once(sample_workspace, run_process, send_env):
    """`--workers 3` on one host: three processes on one send, one summary, three senders listed
    (on the suite's database: SQLite's writers take turns, PostgreSQL's skip each other's rows)."""
    root = sample_workspace
    _built_for_readers(root, run_process, 300)
    sent = run_process(root, "issue", "send", ISSUE, "--segment", "tag:technology", "--workers", "3",
                       "--concurrency", "2")
    assert sent.returncode == 0, sent.stderr
    assert "300 messages handled" in sent.stdout
    counts = send_env.counts()
    assert len(counts) == 300 and set(counts.values()) == {1}
    status = run_process(root, "issue", "status", ISSUE)
    assert status.returncode == 0
    with open_database(load_workspace(root)).reader() as session:
        reports = leases.workers(session, ISSUE)
    assert len(reports) == 3 and all(report.finished_at is not None for report in reports)
    assert sum(report.rows.get("sent", 0) for report in reports) == 300
    for report in reports:
        assert report.name in status.stdout


def test_the_workers_progress_reaches_the_parent(sample_workspace, run_process, send_env):
    """`--workers`: the parent's progress bar counts every message of every worker, from what the
    workers tell it (it does not count the journal's rows as they change)."""
    root = sample_workspace
    _built_for_readers(root, run_process, 300)
    ws = load_workspace(root)
    bars: list[tuple[int, Counter[str]]] = []

    def start(total: int) -> Callable[[str], None]:
        counted: Counter[str] = Counter()
        bars.append((total, counted))
        return lambda state: counted.update((state,))

    options = SendOptions.for_workspace(ws, "tag:technology", concurrency=2)
    summary = send_with_workers(ws, open_database(ws), ISSUE, options, 3, progress_start=start)
    assert summary.attempted == 300
    assert bars == [(300, Counter(sent=300))]


def test_a_dead_worker_of_this_host_frees_its_rows_at_once(workspace, postgres_database, monkeypatch):
    """Resuming right after a crash on the same host: no waiting for the dead process's lease."""
    import socket

    from gbaletter.delivery.processes import gone_from_this_host
    from gbaletter.subscribers.service import add_subscriber

    monkeypatch.setenv("GBALETTER_DATABASE_URL", postgres_database)
    db = open_database(workspace)
    with db.session() as session:
        add_subscriber(session, "one@example.org")
        journal.freeze(session, ISSUE, "all", segment_filter(session, "all"))
    dead_pid = subprocess.Popen(["true"])  # a process number that no longer runs
    dead_pid.wait()
    host = socket.gethostname()
    dead = leases.register_worker(db, ISSUE, f"{host}:{dead_pid.pid}")
    alive = leases.register_worker(db, ISSUE, f"{host}:{os.getpid()}")
    leases.register_worker(db, ISSUE, "another-host:1")
    assert leases.claim_batch(db, ISSUE, State.QUEUED, dead, 10, lease=60)
    assert leases.end_workers(db, ISSUE, gone_from_this_host) == 1
    assert leases.claim_batch(db, ISSUE, State.QUEUED, alive, 10, lease=60)
    with db.reader() as session:
        ended = {report.name: report.finished_at for report in leases.workers(session, ISSUE)}
    assert ended[f"{host}:{dead_pid.pid}"] is not None
    assert ended[f"{host}:{os.getpid()}"] is None and ended["another-host:1"] is None


def test_a_row_tried_this_run_waits_for_the_next_run(workspace, postgres_database, monkeypatch):
    """A row a worker tried and put back in the queue (a retry waiting, a sender problem) is not
    handed to it twice, nor to another worker of the same run (each would try it afresh), even
    one that started after the try; once they have all finished, the next run takes it."""
    from gbaletter.subscribers.service import add_subscriber

    monkeypatch.setenv("GBALETTER_DATABASE_URL", postgres_database)
    db = open_database(workspace)
    with db.session() as session:
        for n in range(3):
            add_subscriber(session, f"r{n}@example.org")
        journal.freeze(session, ISSUE, "all", segment_filter(session, "all"))
    mine, other = (leases.register_worker(db, ISSUE, name) for name in ("a:1", "b:2"))
    batch = leases.claim_batch(db, ISSUE, State.QUEUED, mine, 2, lease=60)
    with db.session() as session:  # what JournalWriter.record(..., State.QUEUED, ..., reply) leaves
        session.execute(sa.update(Delivery).where(Delivery.id == batch[0].key).values(
            state=State.QUEUED, lease_until=None, last_reply="550 5.7.1 Message refused by policy",
            updated_at=utcnow()))
    again = leases.claim_batch(db, ISSUE, State.QUEUED, mine, 10, lease=60, after=batch[-1].key)
    with db.reader() as session:
        everyone = set(session.scalars(sa.select(Delivery.id)))
    assert {r.key for r in again} == everyone - {r.key for r in batch}  # only the row never claimed
    assert leases.claim_batch(db, ISSUE, State.QUEUED, other, 10, lease=60) == []
    late = leases.register_worker(db, ISSUE, "c:3")  # started after the try, beside the others
    assert leases.claim_batch(db, ISSUE, State.QUEUED, late, 10, lease=60) == []
    for worker in (mine, other, late):
        leases.release(db, worker, ())
    next_run = leases.register_worker(db, ISSUE, "d:4")
    assert [r.key for r in leases.claim_batch(db, ISSUE, State.QUEUED, next_run, 10, lease=60)] == [batch[0].key]


def test_with_several_workers_a_refused_row_is_tried_once_a_run(sample_workspace, run_process, send_env):
    """A sender problem is tried once per run and a temporary failure max_attempts times, however
    many workers share the send: counted at the SMTP server."""
    root = sample_workspace
    rows = "".join(f"r{n}@example.org,Reader {n},technology\n" for n in range(200))
    (root / "readers.csv").write_text("email,name,tags\n" + rows, encoding="utf-8")
    for command in (("issue", "build", ISSUE), ("subscribers", "import", str(root / "readers.csv"))):
        assert run_process(root, *command).returncode == 0
    refused, later = "r3@example.org", "r7@example.org"
    send_env.faults = {refused: ["550 5.7.1 Message refused by policy"] * 50,
                       later: ["451 4.3.0 Try again later"] * 50}
    sent = run_process(root, "issue", "send", ISSUE, "--segment", "tag:technology", "--workers", "3",
                       "--concurrency", "2")
    assert sent.returncode == 3, sent.stderr  # rows left for the next run
    assert "1 message deferred by temporary failures" in sent.stderr, sent.stdout
    assert 50 - len(send_env.faults[refused]) == 1
    assert 50 - len(send_env.faults[later]) == 3  # [smtp] max_attempts
    counts = send_env.counts()
    assert len(counts) == 198 and refused not in counts and later not in counts
    with open_database(load_workspace(root)).reader() as session:
        states = dict(session.execute(sa.select(Subscriber.email, Delivery.state).join(
            Subscriber, Subscriber.id == Delivery.subscriber_id).where(Subscriber.email.in_([refused, later]))).all())
    assert states == {refused: State.QUEUED, later: State.DEFERRED}


def test_a_worker_whose_parent_reads_nothing_keeps_sending_and_loses_no_count(monkeypatch):
    """A `--workers` parent killed alone, or paused, reads nothing from the pipes: a worker's
    progress must not stop its send in a blocking write (a pipe holds ~64 KiB: some 650 tallies),
    and the counts not yet told stay in its tally for when there is room again."""
    import multiprocessing
    import threading

    from gbaletter.delivery import workers

    monkeypatch.setattr(workers, "PROGRESS_SECONDS", 0)  # a tally for every message
    receiver, sender = multiprocessing.get_context("fork").Pipe(duplex=False)
    reporter = workers._Reporter(sender)
    advance = reporter.start(5_000)
    done = threading.Event()

    def report_every_message() -> None:
        for _ in range(5_000):
            advance("sent")
        done.set()

    threading.Thread(target=report_every_message, daemon=True).start()
    assert done.wait(20), "the worker blocked writing its progress"
    told = 0
    while receiver.poll():
        told += receiver.recv().counts.get("sent", 0)
    assert told < 5_000 and told + reporter.tally.counts["sent"] == 5_000
    reporter.flush()  # room again: the rest goes
    assert receiver.recv().counts == {"sent": 5_000 - told}


def test_a_stop_that_comes_as_the_first_worker_is_forked_stops_it_and_forks_no_more(monkeypatch):
    """SIGTERM reaching the parent just after it forked the first worker, before that worker has
    handlers of its own: the worker inherited the parent's, which are not its own (its copy of
    the parent's stop request, a pass_on to processes it cannot signal). It starts with the stop
    signals held back and lets them through once its own are in place: it stops (at once, or
    after one message when its own handlers came first), and no other worker is forked. (The
    send itself is replaced by one that counts; what is under test is the forking and the
    signals.)"""
    import multiprocessing.popen_fork as popen_fork

    from gbaletter.delivery import sender, workers
    from gbaletter.interrupts import StopRequest

    def counting_send(ws, db, issue_id, options, progress_start=None):  # type: ignore[no-untyped-def]
        summary = sender.SendSummary(issue_id, options.segment)
        with StopRequest() as stopping:
            progress = progress_start(20)
            for _ in range(20):
                if stopping.requested:
                    summary.interrupted = True
                    break
                progress("sent")
                summary.attempted += 1
                time.sleep(0.05)
        return summary

    class NoDatabase:
        def dispose(self) -> None:
            pass

        def reader(self):  # type: ignore[no-untyped-def]
            from contextlib import nullcontext
            return nullcontext()

    parent, launch, forks = os.getpid(), popen_fork.Popen._launch, []

    def launch_then_stop(self, process_obj):  # type: ignore[no-untyped-def]
        launch(self, process_obj)
        if os.getpid() == parent:
            forks.append(self.pid)
            if len(forks) == 1:
                os.kill(parent, signal.SIGTERM)  # the stop, the first worker just forked

    monkeypatch.setattr(workers, "send_issue", counting_send)
    monkeypatch.setattr(workers.journal, "counts", lambda session, issue_id: {})
    monkeypatch.setattr(workers.journal, "problems", lambda *args, **kwargs: [])
    monkeypatch.setattr(popen_fork.Popen, "_launch", launch_then_stop)
    options = SendOptions(segment="all", smtp=SmtpSettings(), concurrency=1, rate=0)
    summary = send_with_workers(None, NoDatabase(), ISSUE, options, 3)  # type: ignore[arg-type]
    # it stops at once, or after its first message if its own handlers were in place in time
    assert len(forks) == 1 and summary.interrupted and summary.attempted <= 1
