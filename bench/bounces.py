"""Processing N delivery status notifications from a Maildir (`gbaletter bounces process`).

Reference, in the same run: merely parsing the same files with the standard library's `email`
parser (its default compat32 policy, the one gbaletter uses), in this process. The DSNs are the
corpus's Postfix-style DSN, one per journal row, with VERP addresses; half say 5.1.1 (hard
bounce), half 5.2.2 (soft bounce, counted). Peak RSS is measured at three sizes: it should not
grow with the number of messages (SQLite's page cache, capped at 8 MiB, fills on the way).

    python -m bench bounces [MESSAGES]     (default 10000; the RSS also at MESSAGES/10 and x3)
"""

from __future__ import annotations

import email
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import update

from gbaletter.config import load_workspace
from gbaletter.db import open_database, utcnow
from gbaletter.delivery import journal
from gbaletter.delivery.models import Delivery, State
from gbaletter.links import MailAddresses, Signer
from gbaletter.subscribers.models import Subscriber

from .build import REPO, copy_workspace
from .common import report
from .send import _watch_peak_kb, add_subscribers

SECRET = "bench-secret-0123456789abcdef"
ISSUE = "2019-W26"
TEMPLATES = [(REPO / "tests" / "data" / "bounces" / name).read_bytes()
             for name in ("dsn-hard-user-unknown.eml", "dsn-soft-mailbox-full.eml")]


def _prepare(folder: Path, count: int) -> tuple[Path, Path]:
    """A workspace whose journal sent ISSUE to `count` readers, and a Maildir with a DSN for each."""
    root = copy_workspace(folder)
    maildir = folder / "bounces"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    with (root / "gbaletter.toml").open("a") as config:
        config.write(f'\n[bounces]\nsource = "maildir"\npath = "{maildir}"\n')
    ws = load_workspace(root)
    db = open_database(ws)
    add_subscribers(db, count)
    with db.session() as session:
        journal.freeze(session, ISSUE, "tag:technology", session.query(Subscriber.id))
        session.execute(update(Delivery).values(state=State.SENT.value, sent_at=utcnow()))
    with db.reader() as session:
        rows = session.query(Delivery.id, Subscriber.email).join(
            Subscriber, Subscriber.id == Delivery.subscriber_id).all()
    addresses = MailAddresses(ws, Signer(SECRET.encode(), ws.config.newsletter.list_id))
    for number, (row, address) in enumerate(rows):
        data = (TEMPLATES[number % 2].replace(b"@@VERP@@", addresses.bounce(row).encode())
                .replace(b"@@RCPT@@", address.encode()).replace(b"@@MESSAGE_ID@@", b"<x@example.org>")
                .replace(b"4KX2B1", f"B{number:07d}".encode()).replace(b"7QD9C4", f"S{number:07d}".encode()))
        (maildir / "new" / f"1733000000.{number}.bench").write_bytes(data)
    db.dispose()
    return root, maildir


def _reference(maildir: Path) -> float:
    started = time.perf_counter()
    files = sorted((maildir / "new").iterdir())
    for path in files:
        email.message_from_bytes(path.read_bytes())
    return len(files) / (time.perf_counter() - started)


def _process(root: Path) -> tuple[float, int, str]:
    env = {**os.environ, "GBALETTER_SECRET": SECRET}
    errors, out = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "gbaletter", "--root", str(root), "bounces", "process"],
                               stdout=out, stderr=errors, env=env)
    peak_kb = _watch_peak_kb(process)
    elapsed = time.perf_counter() - started
    out.seek(0)
    output = out.read().decode()
    if process.returncode:
        errors.seek(0)
        sys.exit(f"bounces process failed ({process.returncode}): {errors.read()[-2000:].decode(errors='replace')}")
    return elapsed, peak_kb, output.splitlines()[0]


def main(args: list[str]) -> None:
    count = int(args[0]) if args else 10_000
    results = {}
    for size in (max(count // 10, 1), count, 3 * count):
        with tempfile.TemporaryDirectory() as tmp:
            root, maildir = _prepare(Path(tmp), size)
            reference = _reference(maildir)
            elapsed, peak_kb, summary = _process(root)
            results[size] = (size / elapsed, reference, peak_kb, summary)
    print(f"bounces: {count:,} DSNs from a Maildir (half hard, half soft bounces), VERP-attributed")
    rate, reference, peak_kb, summary = results[count]
    report("email.message_from_bytes of each file (reference)", reference, "msg/s")
    report("gbaletter bounces process, whole command", rate, "msg/s", reference, ">= 0.33x reference")
    for size, (_, _, peak, _) in results.items():
        report(f"peak RSS of the process (VmHWM), {size:,} messages", peak / 1024, "MB", None, "flat")
    print(f"  its summary line: {summary}")


if __name__ == "__main__":
    main(sys.argv[1:])
