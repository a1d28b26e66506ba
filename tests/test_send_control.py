"""Pacing and stopping a send: --rate, Ctrl-C (SIGINT) finishing what is in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from gbaletter.delivery import journal
from support.sending import ISSUE, send


def test_rate_limits_messages_per_second(newsletter, run_cli):
    root, _db, handler = newsletter
    started = time.monotonic()
    assert send(run_cli, root, "--rate", "10", "--concurrency", "4").exit_code == 0
    elapsed = time.monotonic() - started
    assert len(handler.received) == 23
    # a bucket of one token: 23 messages at 10/s cannot take less than 2.2 s
    assert elapsed >= 2.2, elapsed
    stamps = sorted(handler.received_at)
    window = [t for t in stamps if t - stamps[0] < 1.0]
    assert len(window) <= 11  # no burst beyond the rate


def test_ctrl_c_finishes_messages_in_flight_then_stops(newsletter):
    root, db, handler = newsletter
    process = subprocess.Popen(
        [sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "send", ISSUE,
         "--segment", "tag:technology", "--rate", "5", "--concurrency", "2"],
        env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(handler.received) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    with db.reader() as session:
        counts = journal.counts(session, ISSUE)
    assert counts["sending"] == 0  # in-flight messages were finished, not abandoned
    assert counts["sent"] == len(handler.received) < 23
    assert counts["queued"] == 23 - counts["sent"]
    assert send_rest(root) == 0
    assert len(handler.received) == 23 and set(handler.counts().values()) == {1}


def send_rest(root) -> int:
    return subprocess.run([sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "send",
                           ISSUE, "--segment", "tag:technology"], env=os.environ.copy(),
                          capture_output=True).returncode
