"""The pipelined connection's reading of replies, without a server: whatever way the replies are
cut into packets (the kernel may split them anywhere), the connection reads the same replies, and
a malformed or endless one ends the connection. The transport is a stand-in that records what
the connection writes; the protocol under test is the real one."""

from __future__ import annotations

import asyncio

import pytest

from gbaletter.delivery.outcome import TransactionFailed
from gbaletter.delivery.pipeline import MAX_REPLY_BYTES, PipeliningConnection
from gbaletter.delivery.writer import Claim

ACCEPTED = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
QUEUED = b"250 2.0.0 Ok: queued as 4XyZ\r\n"
MESSAGE = [b"Subject: x\r\n\r\n", b"body\r\n.\r\n"]
# what a packet of replies may hold, each with the replies it makes
PACKETS = [
    (ACCEPTED + QUEUED, [(250, "2.1.0 Ok"), (250, "2.1.5 Ok"), (354, "End data with <CR><LF>.<CR><LF>"),
                         (250, "2.0.0 Ok: queued as 4XyZ")]),
    (b"250-first line\r\n250-second\r\n250 last  \r\n", [(250, "first line\nsecond\nlast")]),
    (b"550 5.1.1 <x@y>: no such user\n451 4.3.0 try again\r\n", [(550, "5.1.1 <x@y>: no such user"),
                                                                  (451, "4.3.0 try again")]),
    (b"250\r\n354 \r\n", [(250, ""), (354, "")]),
    (b"250 caf\xc3\xa9 \xff\r\n", [(250, "caf\u00e9 \ufffd")]),
]


class Transport:
    """What the connection writes, and whether it closed the connection."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def writelines(self, parts: list[bytes]) -> None:
        self.written.append(b"".join(parts))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def _connection() -> PipeliningConnection:
    return PipeliningConnection(Transport(), 10)  # type: ignore[arg-type]


async def _read(cuts: list[bytes]) -> tuple[list[tuple[int, str]], Exception | None]:
    connection = _connection()
    for packet in cuts:
        connection.data_received(packet)
    return list(connection.replies), connection.lost


@pytest.mark.parametrize("packet, replies", PACKETS)
def test_replies_read_the_same_however_the_packets_are_cut(packet, replies):
    async def every_cut() -> None:
        assert await _read([packet]) == (replies, None)
        for at in range(1, len(packet)):
            assert await _read([packet[:at], packet[at:]]) == (replies, None), at
        assert await _read([packet[at:at + 1] for at in range(len(packet))]) == (replies, None)

    asyncio.run(every_cut())


@pytest.mark.parametrize("packet", [b"25x Ok\r\n", b"\r\n", b"hello\r\n", b"XYZ-a\r\n250 b\r\n"])
def test_a_malformed_reply_ends_the_connection(packet):
    async def malformed() -> None:
        for cuts in ([packet], [packet[:2], packet[2:]]):
            connection = _connection()
            for part in cuts:
                connection.data_received(part)
            assert "malformed reply" in str(connection.lost) and connection.transport.is_closing()

    asyncio.run(malformed())


@pytest.mark.parametrize("packet", [b"2" * (MAX_REPLY_BYTES + 1), b"250-x\r\n" * (MAX_REPLY_BYTES // 6 + 1)])
def test_a_reply_without_end_ends_the_connection(packet):
    async def endless() -> None:
        connection = _connection()
        connection.data_received(packet)
        assert "reply too long" in str(connection.lost) and connection.transport.is_closing()

    asyncio.run(endless())


@pytest.mark.parametrize("first", [None, 1, 40, len(ACCEPTED), len(ACCEPTED) + 5])
def test_a_transaction_reads_its_replies_cut_anywhere(first):
    """The commands, then the message once the claim committed and the server said 354, then the
    final reply's text: with the replies in one packet, or cut before, inside or after the 354."""
    async def transaction() -> str | None:
        connection = _connection()
        claim = Claim()
        sending = asyncio.ensure_future(connection.send(b"MAIL FROM:<a@b>", b"RCPT TO:<c@d>", MESSAGE, claim))
        await asyncio.sleep(0)
        assert connection.transport.written == [b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"]
        replies = ACCEPTED + QUEUED
        cuts = [replies] if first is None else [replies[:first], replies[first:]]
        connection.data_received(cuts[0])
        assert len(connection.transport.written) == 1  # the claim has not committed: no message
        claim.settle(True)
        for packet in cuts[1:]:
            connection.data_received(packet)
        result = await sending
        assert connection.transport.written[1:] == [b"".join(MESSAGE)]
        return result

    assert asyncio.run(transaction()) == "2.0.0 Ok: queued as 4XyZ"


def test_a_refusal_in_the_packet_sends_no_message():
    async def refused() -> None:
        connection = _connection()
        claim = Claim()
        claim.settle(True)
        sending = asyncio.ensure_future(connection.send(b"MAIL FROM:<a@b>", b"RCPT TO:<c@d>", MESSAGE, claim))
        await asyncio.sleep(0)
        connection.data_received(b"250 2.1.0 Ok\r\n550 5.1.1 no such user\r\n354 go ahead\r\n")
        await asyncio.sleep(0)
        connection.data_received(b"250 2.0.0 empty message\r\n250 2.0.0 reset\r\n")
        with pytest.raises(TransactionFailed, match=r"rcpt: 550 5\.1\.1 no such user"):
            await sending
        assert connection.transport.written[1:] == [b".\r\n", b"RSET\r\n"]  # no message in between

    asyncio.run(refused())


NEXT = b"MAIL FROM:<e@f>\r\nRCPT TO:<g@h>\r\nDATA\r\n"


def _sending(connection: PipeliningConnection, rcpt: bytes = b"RCPT TO:<c@d>", mail: bytes = b"MAIL FROM:<a@b>"):
    claim = Claim()
    claim.settle(True)
    return asyncio.ensure_future(connection.send(mail, rcpt, MESSAGE, claim))


async def _with_commands_ahead() -> tuple[PipeliningConnection, asyncio.Future]:
    """A connection sending a message, NEXT to go out with it, the three commands' replies in."""
    connection = _connection()
    connection.next_commands = lambda: NEXT
    sending = _sending(connection)
    await asyncio.sleep(0)
    connection.data_received(ACCEPTED)
    return connection, sending


def test_the_next_transaction_s_commands_go_out_with_the_message():
    """Asked as the message goes out, the next transaction's commands go in the same write; that
    transaction's send then writes only its message, and each reads its own replies in turn."""
    async def two_messages() -> tuple[str | None, str | None]:
        connection = _connection()
        asked = []
        connection.next_commands = lambda: asked.append(1) or NEXT
        first = _sending(connection)
        await asyncio.sleep(0)
        connection.data_received(ACCEPTED)
        assert connection.transport.written[1:] == [b"".join(MESSAGE) + NEXT] and asked == [1]
        connection.data_received(QUEUED + b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n")
        connection.next_commands = None
        second = _sending(connection, b"RCPT TO:<g@h>", b"MAIL FROM:<e@f>")
        await asyncio.sleep(0)
        assert connection.transport.written[2:] == [b"".join(MESSAGE)]  # no commands again
        connection.data_received(b"250 2.0.0 second\r\n")
        return await first, await second

    assert asyncio.run(two_messages()) == ("2.0.0 Ok: queued as 4XyZ", "2.0.0 second")


def test_a_message_refused_at_its_end_ends_the_transaction_sent_ahead():
    """The next transaction's commands went out with a message the server then refuses: the
    connection is closed, so that transaction cannot deliver (no final dot) and the refused
    row's retry does not come in behind it."""
    async def refused() -> None:
        connection, sending = await _with_commands_ahead()
        connection.data_received(b"554 5.7.1 rejected as spam\r\n250 2.1.0 Ok\r\n")
        with pytest.raises(TransactionFailed, match=r"final: 554 5\.7\.1 rejected as spam"):
            await sending
        assert connection.transport.is_closing() and not connection.is_connected

    asyncio.run(refused())


def test_commands_sent_ahead_for_another_transaction_give_the_connection_up():
    """Not a path the sender takes: a send whose commands are not those that went out ahead
    does not open a second transaction behind the first; nothing is delivered, at MAIL."""
    async def other() -> None:
        connection, sending = await _with_commands_ahead()
        connection.data_received(QUEUED)
        assert await sending == "2.0.0 Ok: queued as 4XyZ"
        written = len(connection.transport.written)
        with pytest.raises(TransactionFailed, match=r"mail: .*another transaction's commands"):
            await _sending(connection, b"RCPT TO:<x@y>")
        assert len(connection.transport.written) == written and connection.transport.is_closing()

    asyncio.run(other())


@pytest.mark.parametrize("reply", [b"250 2.1.0 Ok\r\n", b"354 go ahead\r\n"])
def test_a_command_s_reply_where_the_final_reply_belongs_is_not_taken_for_it(reply):
    """A server that answers the commands sent ahead before the message's end (out of order):
    the message's fate is unknown, as after a connection lost past the dot."""
    async def out_of_order() -> None:
        connection, sending = await _with_commands_ahead()
        connection.data_received(reply)
        with pytest.raises(TransactionFailed, match=r"final: .*out of order") as failed:
            await sending
        assert failed.value.reply.failure is not None and connection.transport.is_closing()

    asyncio.run(out_of_order())
