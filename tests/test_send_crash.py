"""A send killed with SIGKILL at a random moment, then resumed: nobody lost, no silent duplicate."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.delivery import journal
from support.seeds import run_seed
from support.smtp_server import FaultyHandler, start_server

RECIPIENTS = 3000
CONCURRENCY = 8


def _import_subscribers(root, run_cli, count: int) -> None:
    """The recipients, through the real CSV import."""
    rows = "".join(f"r{n}@example.org,Reader {n},technology\n" for n in range(count))
    (root / "readers.csv").write_text("email,name,tags\n" + rows, encoding="utf-8")
    result = run_cli(root, "subscribers", "import", str(root / "readers.csv"), "--status", "active")
    assert result.exit_code == 0, result.stderr


def test_sigkill_mid_send_then_resume(sample_workspace, run_cli, monkeypatch):
    seed = run_seed()
    kill_after = random.Random(seed).randrange(200, RECIPIENTS - 500)
    handler = FaultyHandler()
    server = start_server(handler)
    env = {**os.environ, "GBALETTER_SECRET": "crash-test-secret-0123456789",
           "GBALETTER_SMTP_HOST": "127.0.0.1", "GBALETTER_SMTP_PORT": str(server.port),
           "GBALETTER_SMTP_TLS": "none"}
    for key in ("GBALETTER_SECRET", "GBALETTER_SMTP_HOST", "GBALETTER_SMTP_PORT", "GBALETTER_SMTP_TLS"):
        monkeypatch.setenv(key, env[key])
    try:
        assert run_cli(sample_workspace, "issue", "build", "2019-W26").exit_code == 0
        _import_subscribers(sample_workspace, run_cli, RECIPIENTS)
        db = open_database(load_workspace(sample_workspace))
        command = [sys.executable, "-m", "gbaletter", "--root", str(sample_workspace), "issue", "send",
                   "2019-W26", "--segment", "tag:technology", "--concurrency", str(CONCURRENCY)]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while len(handler.received) < kill_after and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert process.poll() is None, f"send ended before the kill (seed {seed}): {process.stderr.read()}"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        process.stderr.close()
        delivered_before = len(handler.received)

        with db.reader() as session:
            states = journal.counts(session, "2019-W26")
        assert states["sending"] <= CONCURRENCY, (seed, states)
        assert states["sent"] <= delivered_before  # the journal never claims more than happened

        resumed = run_cli(sample_workspace, "issue", "send", "2019-W26", "--segment", "tag:technology")
        with db.reader() as session:
            uncertain = {p.email for p in journal.problems(session, "2019-W26", (journal.State.SENDING,))}
        assert len(uncertain) == states["sending"]
        if uncertain:
            assert resumed.exit_code == 3 and "--resend-uncertain" in resumed.stderr
        counts = handler.counts()
        assert max(counts.values()) == 1, f"a duplicate without --resend-uncertain (seed {seed})"
        missing = {f"r{n}@example.org" for n in range(RECIPIENTS)} - set(counts)
        assert missing <= uncertain, f"silently lost: {sorted(missing - uncertain)[:5]} (seed {seed})"

        final = run_cli(sample_workspace, "issue", "send", "2019-W26", "--segment", "tag:technology",
                        "--resend-uncertain")
        assert final.exit_code == 0, final.stderr
        counts = handler.counts()
        assert len(counts) == RECIPIENTS
        duplicates = {address for address, n in counts.items() if n > 1}
        assert duplicates <= uncertain and len(duplicates) <= CONCURRENCY, (seed, duplicates)
        with db.reader() as session:
            assert journal.counts(session, "2019-W26")["sent"] == RECIPIENTS
    finally:
        server.stop()
