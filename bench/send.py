"""Sending the sample issue to N subscribers into Postfix's smtp-sink, journal on.

Reference, in the same run: Postfix's smtp-source sending the same number of messages of the
same size at the same concurrency into the same smtp-sink. Needs the Debian package postfix
(only its smtp-sink and smtp-source binaries are used; no mail system is started).

    python -m bench send [RECIPIENTS] [CONCURRENCY] [WORKERS]     (defaults: 100000 16 1)

With GBALETTER_DATABASE_URL naming an empty PostgreSQL database the list and the journal live
there (WORKERS > 1: `issue send --workers`); the server's CPU is then reported too.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select

from gbaletter.config import load_workspace
from gbaletter.db import open_database, utcnow
from gbaletter.subscribers.addresses import email_hash
from gbaletter.subscribers.models import Status, Subscriber, Tag, subscriber_tags

from .build import ISSUE, copy_workspace
from .common import report
from .postgres import server_cpu

BATCH = 50_000
REFERENCE_MESSAGES = 100_000  # smtp-source's rate is steady well before this


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_subscribers(db, count: int) -> None:
    """N active subscribers tagged `technology`, inserted in bulk (Core, batches)."""
    now = utcnow()
    with db.session() as session:
        tag = Tag(name="technology")
        session.add(tag)
        session.flush()
        tag_id = tag.id
    for start in range(0, count, BATCH):
        with db.session() as session:
            rows = [{"email": f"reader{n}@example.org", "email_hash": email_hash(f"reader{n}@example.org"),
                     "name": f"Reader {n}", "status": Status.ACTIVE, "attributes": {},
                     "consent_source": "bench", "created_at": now, "updated_at": now,
                     "status_changed_at": now} for n in range(start, min(count, start + BATCH))]
            session.execute(insert(Subscriber), rows)
        with db.session() as session:
            ids = session.scalars(select(Subscriber.id).where(Subscriber.id > start)).all()
            session.execute(insert(subscriber_tags),
                            [{"subscriber_id": i, "tag_id": tag_id} for i in ids])


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else "")
    if not path:
        sys.exit(f"{name} not found: install the Debian package postfix (apt-get install postfix)")
    return path


def _sink(port: int) -> subprocess.Popen:
    args = [_tool("smtp-sink")]
    if os.geteuid() == 0:
        args += ["-u", "nobody"]
    process = subprocess.Popen([*args, f"127.0.0.1:{port}", "1000"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    sys.exit("smtp-sink did not start")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _watch_peak_kb(process: subprocess.Popen) -> int:
    """The child's own high-water RSS, read from /proc while it runs.

    getrusage/wait4 would not do: at exec Linux folds the forking parent's high-water mark into
    the child's, and this benchmark's own process is large after making the subscribers.
    """
    peak = 0
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    return peak


def main(args: list[str]) -> None:
    recipients = int(args[0]) if args else 100_000
    concurrency = int(args[1]) if len(args) > 1 else 16
    workers = int(args[2]) if len(args) > 2 else 1
    port = _free_port()
    sink = _sink(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = copy_workspace(Path(tmp))
            ws = load_workspace(root)
            env = {**os.environ, "GBALETTER_SECRET": "bench-secret-0123456789abcdef",
                   "GBALETTER_SMTP_HOST": "127.0.0.1", "GBALETTER_SMTP_PORT": str(port),
                   "GBALETTER_SMTP_TLS": "none"}
            subprocess.run([sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "build", ISSUE],
                           check=True, capture_output=True, env=env)
            message_bytes = len((root / "issues" / ISSUE / "build" / "email.html").read_bytes()) + \
                len((root / "issues" / ISSUE / "build" / "email.txt").read_bytes())
            started = time.perf_counter()
            db = open_database(ws)
            add_subscribers(db, recipients)
            db.dispose()
            print(f"send: {recipients:,} recipients, {concurrency} connections, "
                  f"~{message_bytes / 1024:.0f} KB messages "
                  f"(subscribers made in {time.perf_counter() - started:.1f} s)")

            reference_count = min(recipients, REFERENCE_MESSAGES)
            started = time.perf_counter()
            subprocess.run([_tool("smtp-source"), "-s", str(concurrency), "-l", str(message_bytes),
                            "-m", str(reference_count), "-d", "-M", "bench.example.org",
                            "-f", "bounces@example.org", "-t", "reader@example.org",
                            f"127.0.0.1:{port}"], check=True, capture_output=True)
            reference = reference_count / (time.perf_counter() - started)

            errors = tempfile.TemporaryFile()
            url = os.environ.get("GBALETTER_DATABASE_URL", "")
            server_before = server_cpu(url) if url.startswith("postgresql") else None
            children_cpu = _children_cpu()
            started = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "send", ISSUE,
                 "--segment", "tag:technology", "--concurrency", str(concurrency),
                 "--workers", str(workers)],
                stdout=subprocess.DEVNULL, stderr=errors, env=env)
            peak_kb = _watch_peak_kb(process)
            sender_cpu = _children_cpu() - children_cpu
            errors.seek(0)
            stderr = errors.read()
            elapsed = time.perf_counter() - started
            if process.returncode:
                sys.exit(f"send failed: {stderr[-2000:].decode(errors='replace')}")
            rate = recipients / elapsed
            report("smtp-source, same size and concurrency (reference)", reference, "msg/s")
            report("gbaletter issue send, whole command incl. freeze", rate, "msg/s", reference,
                   ">= 0.8x reference")
            report("peak RSS of the send process (VmHWM)", peak_kb / 1024, "MB", None, "<= 64 MB")
            report(f"CPU per message, sender ({workers} worker(s), all processes)",
                   sender_cpu / recipients * 1e6, "us", None, "<= 150 us")
            if server_before is not None:
                report("CPU per message, PostgreSQL server",
                       (server_cpu(url) - server_before) / recipients * 1e6, "us")
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
