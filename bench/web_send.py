"""One-click unsubscribe POSTs while an issue goes out to the same list (a case of `bench web`).

Gmail and Yahoo send the RFC 8058 POSTs as soon as a reader clicks, so they arrive while the send
still runs and writes its journal. This case starts `gbaletter issue send` of the sample issue to
SEND_RECIPIENTS subscribers (into Postfix's smtp-sink), then runs wrk's POSTs against `gbaletter
serve` on the same list for the case's seconds, every POST to the unsubscribe link of one of the
first UNSUBSCRIBERS of them. Reported: the POSTs' rate and p99 beside the same POSTs against the
same server once the send has ended (the reference, same run), the p99 of a one-row write of the
list made every 5 ms meanwhile from this process (the write lock's share of the wait), the send's
own rate, the CPU seconds that serve, the send, the database server and the whole machine used
during wrk's window (who the 2 cores went to), and whether every one of those subscribers is
unsubscribed once both have stopped (nothing lost).

With GBALETTER_DATABASE_URL naming a PostgreSQL server, the case runs in a database of its own
there (`bench_web_send`, made afresh).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import func, select, update

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.links import UNSUBSCRIBE, signer_for
from gbaletter.subscribers.models import Status, Subscriber

from .build import ISSUE, copy_workspace
from .common import report
from .send import _sink, _watch_peak_kb, add_subscribers

SEND_RECIPIENTS = 40_000
UNSUBSCRIBERS = 1_000
SEND_CONCURRENCY = 16
PROBE_SECONDS = 0.005


def _database_url() -> str | None:
    """A fresh PostgreSQL database for the case when the run is on PostgreSQL, else None."""
    url = os.environ.get("GBALETTER_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return None
    from .postgres import _fresh_database

    return _fresh_database(url, "bench_web_send")


def _workspace(folder: Path, env: dict[str, str]) -> tuple[Path, list[str]]:
    """The sample issue built, SEND_RECIPIENTS subscribers; the unsubscribe paths of the first
    UNSUBSCRIBERS."""
    folder.mkdir()
    root = copy_workspace(folder)
    subprocess.run([sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "build", ISSUE],
                   check=True, capture_output=True, env=env)
    ws = load_workspace(root)
    db = open_database(ws)
    add_subscribers(db, SEND_RECIPIENTS)
    with db.reader() as session:
        ids = session.scalars(select(Subscriber.id).order_by(Subscriber.id).limit(UNSUBSCRIBERS)).all()
    db.dispose()
    signer = signer_for(ws)
    return root, [f"/u/{signer.make(UNSUBSCRIBE, subscriber, ISSUE)}" for subscriber in ids]


class WriteProbe(threading.Thread):
    """A one-row write of the list (the last subscriber's name) every PROBE_SECONDS until
    stopped; its latencies tell waiting for the write lock apart from waiting for the CPU."""

    def __init__(self, root: Path):
        super().__init__(daemon=True)
        self.db = open_database(load_workspace(root))
        self.stopped = threading.Event()
        self.latencies: list[float] = []

    def run(self) -> None:
        while not self.stopped.wait(PROBE_SECONDS):
            started = time.perf_counter()
            with self.db.session() as session:
                session.execute(update(Subscriber).where(Subscriber.id == SEND_RECIPIENTS)
                                .values(name=f"Probe {len(self.latencies)}"))
            self.latencies.append((time.perf_counter() - started) * 1000)

    def p99(self) -> float:
        self.stopped.set()
        self.join()
        self.db.dispose()
        ordered = sorted(self.latencies)
        return ordered[int(len(ordered) * 0.99)] if ordered else float("nan")


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by the process `pid`, 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (every core; idle and iowait left out)."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


class CpuWindow:
    """CPU seconds of serve, the send, the database server (PostgreSQL only) and the whole
    machine over wrk's window: who the 2 cores went to while the POSTs waited."""

    def __init__(self, server: int, sender: int, database: str | None):
        self.pids, self.database = {"serve": server, "the send": sender}, database
        self.start = self._now()

    def _now(self) -> dict[str, float]:
        from .postgres import server_cpu

        now = {name: _process_cpu(pid) for name, pid in self.pids.items()}
        if self.database:
            now["the database server"] = server_cpu(self.database)
        return {**now, "the machine": _machine_cpu()}

    def used(self) -> dict[str, float]:
        end = self._now()
        return {name: end[name] - self.start[name] for name in end}


def _unsubscribed(root: Path) -> int:
    db = open_database(load_workspace(root))
    with db.reader() as session:
        ids = select(Subscriber.id).order_by(Subscriber.id).limit(UNSUBSCRIBERS).subquery()
        done = session.scalar(select(func.count()).select_from(Subscriber)
                              .where(Subscriber.id.in_(select(ids.c.id)),
                                     Subscriber.status == Status.UNSUBSCRIBED)) or 0
    db.dispose()
    return done


def main(seconds: int, concurrency: int, env: dict[str, str]) -> None:
    from .web import POST_SETUP, _free_port, _script, _wait_listening, _wrk

    database = _database_url()
    env = {**env, **({"GBALETTER_DATABASE_URL": database} if database else {})}
    saved = os.environ.get("GBALETTER_DATABASE_URL")
    if database:
        os.environ["GBALETTER_DATABASE_URL"] = database
    smtp_port, port = _free_port(), _free_port()
    sink = _sink(smtp_port)
    send_env = {**env, "GBALETTER_SMTP_HOST": "127.0.0.1", "GBALETTER_SMTP_PORT": str(smtp_port),
                "GBALETTER_SMTP_TLS": "none"}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            root, paths = _workspace(folder / "ws", env)
            # The reference POSTs go to links of other subscribers than the measured ones.
            script = _script(folder, "posts", paths, POST_SETUP)
            print(f"web during a send: {SEND_RECIPIENTS:,} recipients at {SEND_CONCURRENCY} "
                  f"connections, POSTs to {UNSUBSCRIBERS:,} of them (load average "
                  f"{os.getloadavg()[0]:.1f} before, {'PostgreSQL' if database else 'SQLite'})")
            server = subprocess.Popen([sys.executable, "-m", "gbaletter", "--root", str(root), "serve",
                                       "--port", str(port)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True, env=env)
            try:
                _wait_listening(port, server)
                started = time.perf_counter()
                sender = subprocess.Popen(
                    [sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "send", ISSUE,
                     "--segment", "tag:technology", "--concurrency", str(SEND_CONCURRENCY)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=send_env)
                # wrk's window takes in the whole send's start: the recipients frozen, the journal's
                # first claims
                probe = WriteProbe(root)
                probe.start()
                cpu = CpuWindow(server.pid, sender.pid, database)
                during = _wrk(f"http://127.0.0.1:{port}", script, seconds, concurrency)
                still_sending = sender.poll() is None
                cpu_used = cpu.used()
                probe_p99 = probe.p99()
                _watch_peak_kb(sender)  # waits for the send to end
                send_s = time.perf_counter() - started
                if sender.returncode:
                    sys.exit(f"send failed: {sender.communicate()[1][-2000:].decode(errors='replace')}")
                alone = _wrk(f"http://127.0.0.1:{port}", script, seconds, concurrency)
            finally:
                server.send_signal(signal.SIGINT)
                server.communicate(timeout=60)
            unsubscribed = _unsubscribed(root)
    finally:
        sink.terminate()
        sink.wait()
        if database:
            os.environ.pop("GBALETTER_DATABASE_URL")
            if saved is not None:
                os.environ["GBALETTER_DATABASE_URL"] = saved
    if not still_sending:
        print("  (the send ended before wrk did: the POSTs were not all during the send)")
    report("one-click POST, after the send (reference)", alone[0], "req/s")
    report("one-click POST during the send", during[0], "req/s", alone[0])
    report("one-click POST, p99, after the send (reference)", alone[1], "ms")
    report("one-click POST, p99, during the send", during[1], "ms", alone[1], "<= 100 ms")
    report("a one-row list write every 5 ms meanwhile, p99", probe_p99, "ms")
    report("the send: rate, whole command incl. freeze", SEND_RECIPIENTS / send_s, "msg/s")
    for name, used in cpu_used.items():
        report(f"CPU during the POSTs: {name}", used, f"s of {os.cpu_count()} x {seconds} s")
    report(f"unsubscribed of the {UNSUBSCRIBERS:,} POSTed", unsubscribed / UNSUBSCRIBERS * 100, "%",
           None, "100 %")
