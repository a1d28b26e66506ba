"""The next transaction's commands, pipelined behind a message's final dot (delivery/ahead.py).

A send to a server that offers PIPELINING writes each message and the next row's MAIL, RCPT and
DATA together, before the message's final reply; a relay between the send and aiosmtpd records
what crossed the wire and when. A server slow to answer one message's dot shows the order."""

from __future__ import annotations

import os
import re

import pytest

from gbaletter.delivery.outcome import Reply, Stage, decide
from support.sending import TECH_READERS, rows, send, smtp_settings
from support.wire import Chunk, Wire

SLOW = "reader5@example.org"  # its dot is answered late: the next commands come in before
pipelining = pytest.mark.parametrize("newsletter", [True], ids=["pipelining"], indirect=True)


@pytest.fixture
def wire(newsletter, monkeypatch):  # (after `newsletter`, which sets the server's port)
    """The newsletter's SMTP server behind a recording relay."""
    with Wire(int(os.environ["GBALETTER_SMTP_PORT"])) as relay:
        monkeypatch.setenv("GBALETTER_SMTP_PORT", str(relay.port))
        yield relay


def from_message_on(wire: Wire, address: str) -> list[Chunk]:
    """What crossed the connection that sent `address`'s message, from that message on."""
    chunks = list(wire.chunks)
    start = next(i for i, c in enumerate(chunks) if c.from_client and f"<{address}>\r\nMessage-ID:".encode() in c.data)
    return [c for c in chunks[start:] if c.connection == chunks[start].connection]


def commands_before_the_reply(wire: Wire, address: str) -> bool:
    """Whether, on the connection that sent `address`, the next MAIL came in before the server
    answered that message's end."""
    after = from_message_on(wire, address)
    replied = next(i for i, c in enumerate(after) if not c.from_client and c.data.startswith(b"250 2.0.0"))
    return any(c.from_client and b"MAIL FROM" in c.data for c in after[:replied])


@pipelining
def test_the_next_transaction_s_commands_go_out_with_the_message(newsletter, wire, run_cli):
    root, db, handler = newsletter
    handler.faults[SLOW] = ["slow-data"]
    handler.slow_seconds = 0.5
    result = send(run_cli, root, "--concurrency", "1")
    assert result.exit_code == 0, result.output
    assert commands_before_the_reply(wire, SLOW)
    assert sorted(handler.counts().values()) == [1] * TECH_READERS  # each message once
    assert {state for state, _, _ in rows(db).values()} == {"sent"}
    assert len({c.connection for c in wire.chunks}) == 1


@pipelining
def test_with_a_rate_each_transaction_waits_for_the_last(newsletter, wire, run_cli):
    """--rate holds each attempt back until its turn: no row is taken ahead then (ahead.py)."""
    root, _, handler = newsletter
    handler.faults[SLOW] = ["slow-data"]
    handler.slow_seconds = 0.5
    result = send(run_cli, root, "--concurrency", "1", "--rate", "1000")
    assert result.exit_code == 0, result.output
    assert not commands_before_the_reply(wire, SLOW)
    assert sorted(handler.counts().values()) == [1] * TECH_READERS


@pipelining
def test_a_message_refused_at_its_end_does_not_deliver_the_transaction_sent_ahead(newsletter, wire, run_cli):
    """The server refuses a message after its dot, with the next row's commands already in: that
    connection is given up (the next transaction never got its dot), and the next row goes out
    once, on a new connection."""
    root, db, handler = newsletter
    handler.faults["reader3@example.org"] = ["reject-data"]
    result = send(run_cli, root, "--concurrency", "1")
    journal = rows(db)
    refused = decide(Stage.FINAL, Reply(554, "5.7.1 message refused as spam")).effect.state.value
    assert journal["reader3@example.org"] == (refused, 1, "554 5.7.1 message refused as spam")
    assert sum(state == "sent" for state, _, _ in journal.values()) == TECH_READERS - 1, result.output
    assert sorted(handler.counts().values()) == [1] * TECH_READERS  # the refused one was received once
    assert len({c.connection for c in wire.chunks}) == 2


@pipelining
def test_a_message_deferred_at_its_end_is_tried_again_behind_the_transaction_sent_ahead(newsletter, wire, run_cli):
    """A 451 after the dot: the outcome table tries the row again now, on a new connection (the
    old one had the next row's transaction open); both rows go out once."""
    root, db, handler = newsletter
    handler.faults["reader3@example.org"] = ["defer-data"]
    result = send(run_cli, root, "--concurrency", "1")
    assert result.exit_code == 0, result.output
    journal = rows(db)
    assert journal["reader3@example.org"][:2] == ("sent", 2)
    assert {state for state, _, _ in journal.values()} == {"sent"}
    counts = handler.counts()
    assert counts.pop("reader3@example.org") == 2 and set(counts.values()) == {1}  # refused, then taken
    assert len(counts) == TECH_READERS - 1 and len({c.connection for c in wire.chunks}) == 2


@pipelining
def test_a_relay_pause_that_begins_after_the_next_commands_went_out_closes_their_connection(
        newsletter, wire, run_cli):
    """One connection waits on a slow dot, the next row's commands out behind it, while the
    other's RCPT gets a 451 that pauses the relay (breaker = 1). The first connection is closed
    before the pause rather than held in DATA through it; its next row goes out once, after the
    pause, on a new connection, at its first attempt."""
    root, db, handler = newsletter
    smtp_settings(root, breaker=1, relay_backoff=3, relay_backoff_max=30)
    busy = "reader12@example.org"  # the other connection's, as the slow dot holds this one
    handler.faults[SLOW] = ["slow-data"]
    handler.faults[busy] = ["451 4.3.2 try again later"]
    # the slow dot is answered 0.5 s after the 451 went out: the pause has begun by then, and
    # outlasts it
    handler.slow_after, handler.slow_seconds = (lambda: not handler.faults[busy]), 0.5
    result = send(run_cli, root, "--concurrency", "2")
    assert result.exit_code == 0, result.output
    assert sorted(handler.counts().values()) == [1] * TECH_READERS
    journal = rows(db)
    assert {state for state, _, _ in journal.values()} == {"sent"}
    slow_connection = from_message_on(wire, SLOW)
    ahead = re.search(rb"RCPT TO:<([^>]+)>", b"".join(c.data for c in slow_connection if c.from_client))
    assert ahead is not None, "no commands went out behind the slow message"
    following = ahead.group(1).decode()
    assert following != SLOW and journal[following][:2] == ("sent", 1)
    # nothing of that row's message on the connection that had its commands: it was closed
    assert not any(c.from_client and f"<{following}>\r\nMessage-ID:".encode() in c.data for c in slow_connection)
    assert journal[busy][:2] == ("sent", 1)  # the relay's failure did not count as an attempt
