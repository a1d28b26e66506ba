"""A relay that misbehaves, met by `gbaletter issue send` over real SMTP on 127.0.0.1.

aiosmtpd (tests/support/smtp_server.py) injects per-address and relay-wide faults; Postfix's own
`smtp-sink` injects its faults (-f, -q, -W) for every session, as a broken relay would. Each test
counts at the server and in the journal; every run must account for every recipient.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from gbaletter.delivery import journal
from gbaletter.subscribers.models import Status, Subscriber, SubscriberEvent, Suppression
from support.programs import require_program
from support.sending import ISSUE, TECH_READERS, rows, send, smtp_settings
from support.smtp_server import free_port


def statuses(db) -> Counter:
    with db.reader() as session:
        return Counter(session.scalars(select(Subscriber.status)))


def suppressed(db) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(Suppression)) or 0


def accounted(db) -> dict[str, int]:
    """The journal's counts, asserting they add up to the recipients."""
    with db.reader() as session:
        counts = journal.counts(session, ISSUE)
    assert sum(counts.values()) == TECH_READERS
    return counts


@pytest.mark.parametrize("reply", ["554 5.7.1 <x@relay>: Relay access denied", "500 5.3.0 Error: command failed",
                                   "550 5.7.515 Access denied, sending domain does not meet the required "
                                   "authentication level"])
def test_a_relay_refusing_every_recipient_marks_nobody(newsletter, run_cli, reply):
    root, db, handler = newsletter
    handler.rcpt_reply = reply
    result = send(run_cli, root)
    assert result.exit_code == 1
    assert reply.split(" <")[0].split(" Access")[0] in result.stderr  # the reply is printed
    assert "nobody is marked" in result.stderr
    assert handler.received == []
    assert statuses(db)[Status.BOUNCED] == 0 and suppressed(db) == 0
    assert {state for state, _, _ in rows(db).values()} == {"queued"}
    assert accounted(db)["queued"] == TECH_READERS
    handler.rcpt_reply = ""  # the relay is fixed: the same command sends everyone, once
    assert send(run_cli, root).exit_code == 0
    assert sorted(handler.counts().values()) == [1] * TECH_READERS


def test_the_same_user_unknown_for_everyone_is_undone_by_the_breaker(newsletter, run_cli):
    """A relay that answers 550 5.1.1 to every address (a broken recipient map) would bounce the
    whole list; the breaker stops it and undoes the bounces it already made."""
    root, db, handler = newsletter
    smtp_settings(root, breaker=10)
    handler.rcpt_reply = "550 5.1.1 <someone@example.org>: Recipient address rejected: User unknown"
    result = send(run_cli, root)
    assert result.exit_code == 1 and "10 recipients in a row" in result.stderr
    assert " of this run undone: their subscribers are active" in result.stderr
    assert statuses(db)[Status.BOUNCED] == 0 and suppressed(db) == 0
    assert statuses(db)[Status.ACTIVE] == TECH_READERS + 1  # + the finance reader
    assert accounted(db)["bounced"] == 0
    with db.reader() as session:
        undone = session.scalars(select(SubscriberEvent.reason).where(
            SubscriberEvent.new_status == Status.ACTIVE, SubscriberEvent.actor == "sender")).all()
    assert undone and all("bounce undone" in reason for reason in undone)


def test_user_unknown_for_some_bounces_exactly_those(newsletter, run_cli):
    root, db, handler = newsletter
    bad = ["reader2@example.org", "reader9@example.org", "bob@example.com"]
    for address in bad:
        handler.faults[address] = [f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"]
    assert send(run_cli, root).exit_code == 0
    with db.reader() as session:
        bounced = set(session.scalars(select(Subscriber.email).where(Subscriber.status == Status.BOUNCED)))
    assert bounced == set(bad) and suppressed(db) == 3
    counts = accounted(db)
    assert (counts["sent"], counts["bounced"]) == (TECH_READERS - 3, 3)
    assert len(handler.received) == TECH_READERS - 3


def test_mailbox_full_is_temporary_and_sender_problems_keep_the_row_queued(newsletter, run_cli):
    root, db, handler = newsletter
    handler.faults["reader1@example.org"] = ["552 5.2.2 mailbox full"] * 3
    handler.faults["reader2@example.org"] = ["550 5.7.1 message refused by local policy"]
    assert send(run_cli, root).exit_code == 3
    table = rows(db)
    assert table["reader1@example.org"][:2] == ("deferred", 3)
    assert table["reader2@example.org"][0] == "queued" and "5.7.1" in table["reader2@example.org"][2]
    assert statuses(db)[Status.BOUNCED] == 0
    assert send(run_cli, root).exit_code == 0  # both go out on the next run
    assert handler.counts()["reader1@example.org"] == handler.counts()["reader2@example.org"] == 1


def test_an_answer_after_the_timeout_leaves_the_row_uncertain_and_it_is_received_once(newsletter, run_cli):
    root, db, handler = newsletter
    smtp_settings(root, timeout=1)
    handler.slow_seconds = 2.5
    handler.faults["reader3@example.org"] = ["slow-data"]
    first = send(run_cli, root)
    assert first.exit_code == 3 and "reader3@example.org" in first.stderr
    assert rows(db)["reader3@example.org"][0] == "uncertain"
    counts = accounted(db)
    assert (counts["sent"], counts["uncertain"]) == (TECH_READERS - 1, 1)
    time.sleep(handler.slow_seconds)  # the server answers late, and keeps the message
    assert send(run_cli, root).exit_code == 3
    assert handler.counts()["reader3@example.org"] == 1


def test_relay_wide_temporary_failures_pause_the_send_then_stop_with_rows_queued(newsletter, run_cli):
    root, db, handler = newsletter
    smtp_settings(root, breaker=5, relay_backoff=0.2, relay_backoff_max=1, max_attempts=2)
    handler.rcpt_reply = "451 4.3.2 system not accepting network messages"
    started = time.monotonic()
    result = send(run_cli, root)
    assert result.exit_code == 1 and "kept failing temporarily" in result.stderr
    assert "paused" in result.stderr
    assert time.monotonic() - started >= 0.6  # it waited (0.2 + 0.4 s) before giving up
    counts = accounted(db)
    assert counts["deferred"] < 5 and counts["queued"] >= TECH_READERS - 5  # attempts not burnt
    handler.rcpt_reply = ""
    assert send(run_cli, root).exit_code == 0
    assert sorted(handler.counts().values()) == [1] * TECH_READERS


# --- Postfix smtp-sink with its own fault switches -------------------------------------------------

def _sink(*faults: str):
    binary = require_program("smtp-sink", "postfix")
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []  # smtp-sink drops root itself
    process = subprocess.Popen([binary, *user, "-c", *faults, f"127.0.0.1:{port}", "100"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("smtp-sink did not start")
        time.sleep(0.05)


def _stop(process) -> int:
    """Stop smtp-sink; with -c it prints its running count of received messages on stdout."""
    process.terminate()
    out, _ = process.communicate(timeout=10)
    numbers = re.findall(r"(\d+)", out)
    return int(numbers[-1]) if numbers else 0


@pytest.fixture
def sink_newsletter(newsletter, monkeypatch):
    """The newsletter, sent to smtp-sink instead of aiosmtpd (which stays unused)."""
    started = []

    def start(*faults: str) -> None:
        process, port = _sink(*faults)
        started.append(process)
        monkeypatch.setenv("GBALETTER_SMTP_PORT", str(port))

    yield newsletter[0], newsletter[1], start, started
    for process in started:
        if process.poll() is None:
            process.kill()


# smtp-sink always offers PIPELINING: the tests below run once, not for both kinds of server
only_pipelining = pytest.mark.parametrize("newsletter", [True], ids=["smtp-sink"], indirect=True)


@only_pipelining
def test_smtp_sink_refusing_every_rcpt_marks_nobody(sink_newsletter, run_cli):
    root, db, start, _ = sink_newsletter
    start("-f", "RCPT")
    result = send(run_cli, root)
    assert result.exit_code == 1 and "5.3.0" in result.stderr
    assert statuses(db)[Status.BOUNCED] == 0 and suppressed(db) == 0
    assert accounted(db)["queued"] == TECH_READERS


@only_pipelining
def test_smtp_sink_dropping_after_the_dot_gets_each_message_at_most_once_per_run(sink_newsletter, run_cli):
    root, db, start, started = sink_newsletter
    smtp_settings(root, concurrency=2)
    start("-q", ".")
    result = send(run_cli, root)
    assert result.exit_code == 3 and "--resend-uncertain" in result.stderr
    counts = accounted(db)
    assert counts["uncertain"] == TECH_READERS  # every message went out once; none is retried
    assert _stop(started[-1]) == TECH_READERS  # smtp-sink received each message exactly once


@pytest.mark.parametrize("rate", [[], ["--rate", "1000"]], ids=["commands-ahead", "one-at-a-time"])
@only_pipelining
def test_smtp_sink_answering_after_the_timeout_is_uncertain(sink_newsletter, run_cli, rate):
    """smtp-sink's -W delays its answer to the final dot, and answers the next transaction's
    commands, pipelined behind the dot, before it: out of order (RFC 2920 has replies in turn).
    A send reads the MAIL's `250 2.1.0` where the dot's reply belongs and knows it for what it
    is, so the message is uncertain either way; with --rate nothing goes ahead (ahead.py)."""
    root, db, start, _ = sink_newsletter
    smtp_settings(root, timeout=1, concurrency=4)
    start("-W", ".:1500")
    result = send(run_cli, root, *rate)
    assert result.exit_code == 3
    assert accounted(db)["uncertain"] == TECH_READERS
    assert send(run_cli, root, *rate).exit_code == 3  # not re-sent by a plain run
    assert accounted(db)["uncertain"] == TECH_READERS
