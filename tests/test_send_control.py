"""Pacing and stopping a send: --rate, Ctrl-C (SIGINT) or SIGTERM finishing what is in flight,
with one sending process or several (--workers), and a second signal ending it at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from sqlalchemy import select

from gbaletter.delivery import journal
from gbaletter.subscribers.models import Subscriber
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


@pytest.mark.parametrize(("workers", "signum"), [("1", signal.SIGINT), ("1", signal.SIGTERM),
                                                  ("2", signal.SIGTERM)])
def test_a_stop_signal_finishes_messages_in_flight_then_stops(newsletter, workers, signum):
    """With --workers the signal goes to the parent only (as `kill` or systemd's main-PID stop
    sends it): it passes SIGTERM on to its workers, which stop as a single send does."""
    root, db, handler = newsletter
    process = subprocess.Popen(
        [sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "send", ISSUE,
         "--segment", "tag:technology", "--rate", "5", "--concurrency", "2", "--workers", workers],
        env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(handler.received) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signum)
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


def test_a_second_signal_ends_the_send_at_once(newsletter):
    """Who will not wait for the messages in flight (here a server slow to answer DATA): the
    process ends by the signal; what was committed stays, each connection's message is left
    `sending` (listed, sent again only with --resend-uncertain), every row is whole."""
    root, db, handler = newsletter
    handler.slow_seconds = 30
    with db.reader() as session:
        handler.faults = {email.lower(): ["slow-data"] for email in session.scalars(select(Subscriber.email))}
    process = subprocess.Popen(
        [sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "send", ISSUE,
         "--segment", "tag:technology", "--concurrency", "2"],
        env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(handler.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # heard: the send waits for the two replies, 30 s away
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=10)
    assert process.returncode == -signal.SIGTERM
    with db.reader() as session:
        counts = journal.counts(session, ISSUE)
    assert (counts["sending"], counts["sent"], sum(counts.values())) == (2, 0, 23)
    handler.faults = {}
    resent = subprocess.run([sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "send", ISSUE,
                             "--segment", "tag:technology", "--resend-uncertain"], env=os.environ.copy(),
                            capture_output=True, text=True)
    assert resent.returncode == 0, resent.stderr
    assert len(handler.counts()) == 23 and sum(handler.counts().values()) == 25  # the two, twice


def send_rest(root) -> int:
    return subprocess.run([sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "send",
                           ISSUE, "--segment", "tag:technology"], env=os.environ.copy(),
                          capture_output=True).returncode
