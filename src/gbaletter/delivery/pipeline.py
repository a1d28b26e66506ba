"""SMTP transactions that wake the sender once a message, where the server offers PIPELINING.

aiosmtplib opens the connection (TLS, EHLO, login) but sends one command and waits for its reply
at a time, and its reader takes only one reply from each packet, so it cannot pipeline. After the
login this protocol takes the connection over (`transport.set_protocol`) and sends MAIL, RCPT and
DATA together (RFC 2920), then the message.

The commands go out while the row's claim (`writer.Claim`, the journal's `sending`) is being
committed: they deliver nothing, and the message itself is written only once both the claim has
committed and the server has said yes to all three commands, by whichever of the two comes last
(`_advance`, run from the reply's packet or from the claim's commit). The sending coroutine is
woken once a message, for the final reply, and otherwise only when something needs it: a
refusal, a claim that failed, a lost connection. A claim that fails after the server said 354 to
DATA abandons the transaction by closing the connection: RFC 5321 (3.8) has a server deliver
nothing of a transaction whose message did not end with the final dot.

The next transaction's commands go out in the same write as this message, when the sender
already knows its next row then (`next_commands`; RFC 2920 3.1 lets a message's content start a
group of pipelined commands): a message then costs one write and, from most servers, one packet
of replies (this message's final reply and the next one's three), where it cost two of each,
and the kernel's part of a message's CPU fell by about a third (docs/benchmarks.md). A message
refused at its end closes the connection instead (the next transaction, already open, must not
deliver, and a retry must not come in behind it).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiosmtplib

from .outcome import Failure, Reply, Stage, TransactionFailed

if TYPE_CHECKING:  # (the writer's database code is not loaded with the SMTP code)
    from .writer import Claim

MAX_REPLY_BYTES = 64 * 1024
CONNECTION_EXCEPTIONS = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError,
                         aiosmtplib.SMTPConnectError, ConnectionError, OSError, asyncio.TimeoutError)


def transaction_commands(mail_from: bytes, rcpt_to: bytes) -> bytes:
    """A transaction's MAIL, RCPT and DATA, pipelined (command lines without CRLF in)."""
    return mail_from + b"\r\n" + rcpt_to + b"\r\nDATA\r\n"


def _answers_a_command(code: int, text: str) -> bool:
    """A reply that only MAIL, RCPT or DATA get (354, or a success with an address status, RFC
    3463's 2.1.x), read where a message's final reply belongs: the server answered the commands
    sent ahead before that message's end, out of order (smtp-sink's -W does). What became of the
    message is not known: the connection is given up as if lost after the dot (`uncertain`). A
    server without enhanced status codes that does this cannot be told apart."""
    return code == 354 or (code in (250, 251) and text.startswith("2.1."))


def lost_at(stage: Stage, exc: BaseException, timeout: float) -> TransactionFailed:
    """A transaction's lost connection or timeout as a failure at the stage it happened in:
    before the final dot nothing was delivered, after it the server may have the message."""
    if isinstance(exc, TimeoutError):
        return TransactionFailed(stage, Reply(failure=Failure.TIMEOUT, text=f"no answer within {timeout:g} s"))
    return TransactionFailed(stage, Reply(failure=Failure.RESET, text=str(exc)))


class PipeliningConnection(asyncio.Protocol):
    """A logged-in SMTP connection that sends DATA-ready messages with pipelining."""

    def __init__(self, transport: asyncio.Transport, timeout: float):
        self.transport = transport
        # (Python 3.11's get_running_loop asks the kernel for the process id at every call)
        self.loop = asyncio.get_running_loop()
        self.buffer = b""                  # the start of a line not complete yet
        self.reply_lines: list[bytes] = []  # the lines so far of a multi-line reply
        self.replies: deque[tuple[int, str]] = deque()
        self.waiter: asyncio.Future | None = None
        self.wanted = 0  # replies the coroutine waits for, once no message is waiting to go out
        self.message: list[bytes] | None = None  # waiting for its claim and the server's 354
        self.claim: Claim | None = None  # the claim of the transaction under way
        self.lost: Exception | None = None
        self.stage = Stage.MAIL  # where the current transaction is
        self.timeout = timeout
        self.deadline: float | None = None  # when the transaction under way times out
        self.timer: asyncio.TimerHandle | None = None
        # asked as a message goes out for the next transaction's commands, to go in the same
        # write; None, or its None: that transaction's `send` writes them itself
        self.next_commands: Callable[[], bytes | None] | None = None
        self.sent_ahead: bytes | None = None  # those commands, once they went out

    @classmethod
    def take_over(cls, client: aiosmtplib.SMTP, timeout: float) -> PipeliningConnection | None:
        """This connection's transport with pipelining, or None if the server does not offer it.
        A transaction that takes more than `timeout` seconds fails with TimeoutError."""
        transport = client.transport
        if transport is None or not client.supports_extension("pipelining"):
            return None
        connection = cls(transport, timeout)  # type: ignore[arg-type]
        transport.set_protocol(connection)
        return connection

    # asyncio.Protocol
    def data_received(self, data: bytes) -> None:
        """The replies in a packet, then `_advance`. Nearly every packet holds whole one-line
        replies (the server's answer to MAIL, RCPT and DATA; its final reply): those take the
        loop below alone; the lines of a multi-line reply take `_multi_line`, and a reply not
        complete at the packet's end `_too_long`."""
        lines = (self.buffer + data).split(b"\n")
        self.buffer = lines.pop()
        append = self.replies.append
        for line in lines:
            if line[3:4] == b"-" or self.reply_lines:
                if not self._multi_line(line):
                    return
                continue
            try:
                code = int(line[:3])
            except ValueError:
                self._fail(aiosmtplib.SMTPServerDisconnected(f"malformed reply {line[:80]!r}"))
                return
            append((code, line[4:].strip().decode("utf-8", "replace")))
        if (self.buffer or self.reply_lines) and self._too_long():
            return
        self._advance()

    def _multi_line(self, line: bytes) -> bool:
        """A line of a multi-line reply (`250-...`, then `250 ...` for the last); the reply goes
        to `replies` with its last line. False: the reply is malformed (the connection fails)."""
        if line[3:4] == b"-":
            self.reply_lines.append(line)
            return True
        reply, self.reply_lines = [*self.reply_lines, line], []
        try:
            code = int(reply[0][:3])
        except ValueError:
            self._fail(aiosmtplib.SMTPServerDisconnected(f"malformed reply {reply[0][:80]!r}"))
            return False
        self.replies.append((code, "\n".join([line[4:].strip().decode("utf-8", "replace") for line in reply])))
        return True

    def _too_long(self) -> bool:
        """Whether the reply not complete yet is past MAX_REPLY_BYTES (the connection fails)."""
        if len(self.buffer) + sum(map(len, self.reply_lines)) <= MAX_REPLY_BYTES:
            return False
        self._fail(aiosmtplib.SMTPServerDisconnected("reply too long"))
        return True

    def _check_deadline(self) -> None:
        """The connection's one timer: a transaction past its deadline fails; otherwise the timer
        waits for the deadline of the transaction under way, if any. Setting a deadline per
        message is then one store, where a timer armed and cancelled per message cost more than
        the rest of the reply handling."""
        self.timer = None
        if self.deadline is None or self.lost is not None:
            return
        loop = self.loop
        if loop.time() >= self.deadline:
            self._fail(TimeoutError())
        else:
            self.timer = loop.call_at(self.deadline, self._check_deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(aiosmtplib.SMTPServerDisconnected(f"connection lost: {exc or 'closed by the server'}"))

    def _fail(self, exc: Exception) -> None:
        self.lost = self.lost or exc
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.transport.is_closing():
            self.transport.close()
        self._advance()

    def _accepted(self) -> bool:
        """The server said yes to MAIL, RCPT and DATA (the first three replies waiting)."""
        replies = self.replies
        return replies[0][0] == 250 and replies[1][0] in (250, 251) and replies[2][0] == 354

    def _ready(self) -> bool:
        """Whether the coroutine has something to do: the replies it waits for are in, or the
        message cannot go out (the connection is lost, the claim failed, the server refused)."""
        if self.lost is not None:
            return True
        if self.message is None:
            return len(self.replies) >= self.wanted
        claim = self.claim
        if claim is not None and (claim.ok is False or claim.error is not None):  # a failed claim
            return True
        return len(self.replies) >= 3 and not self._accepted()

    def _advance(self) -> None:
        """The message out once its claim has committed and the server said 354; the coroutine
        woken once it has something to do. Runs on every packet of replies and when the claim
        commits (in the journal writer's turn), so it must not raise."""
        message = self.message
        if message is not None and len(self.replies) >= 3:
            claim = self.claim
            if claim is not None and claim.ok and self.is_connected and self._accepted():
                replies = self.replies
                replies.popleft(), replies.popleft(), replies.popleft()
                self.stage = Stage.FINAL  # from here on, a lost connection leaves it uncertain
                self.message, self.wanted = None, 1
                # the time for the message starts now: a claim that took long to commit (a writer
                # waiting for the lock) must not make a delivered message look lost
                self.deadline = self.loop.time() + self.timeout
                following = self.next_commands() if self.next_commands is not None else None
                if following is None:
                    self.transport.writelines(message)
                else:  # one write for this message and the next transaction's commands
                    self.sent_ahead = following
                    self.transport.writelines([*message, following])
        waiter = self.waiter
        if waiter is not None and self._ready() and not waiter.done():
            waiter.set_result(None)
            self.waiter = None  # woken once: the packets until it runs need not ask `_ready` again

    # the connection's API, as the sender uses it
    @property
    def is_connected(self) -> bool:
        return self.lost is None and not self.transport.is_closing()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _write(self, data: bytes) -> None:
        if not self.is_connected:
            raise self.lost or aiosmtplib.SMTPServerDisconnected("connection closed")
        self.transport.write(data)

    async def _wait(self) -> None:
        """Until `_ready`: the waiter is woken only once it is, and it stays so until this
        coroutine takes the replies."""
        if not self._ready():
            self.waiter = self.loop.create_future()
            await self.waiter

    async def _read(self, count: int) -> list[tuple[int, str]]:
        self.wanted = count
        await self._wait()
        if len(self.replies) < count:
            raise self.lost or aiosmtplib.SMTPServerDisconnected("connection closed")
        return [self.replies.popleft() for _ in range(count)]

    async def send(self, mail_from: bytes, rcpt_to: bytes, message: list[bytes], claim: Claim) -> str | None:
        """One message (`mail_from` and `rcpt_to` are whole command lines without CRLF, `message`
        the DATA as parts), sent once `claim` has committed; returns the final reply's text, or
        None when the claim failed (nothing was sent; the claim says why), or raises
        `TransactionFailed` naming the stage that refused, or where the connection was lost or
        no end came within `timeout` seconds (the connection is closed then). The caller awaits
        this coroutine itself (`SmtpConnection.send` returns it): one frame less a message."""
        loop = self.loop
        self.deadline = loop.time() + self.timeout
        if self.timer is None:
            self.timer = loop.call_at(self.deadline, self._check_deadline)
        try:
            self.stage = Stage.MAIL
            self._open(transaction_commands(mail_from, rcpt_to))
            self.message, self.claim = message, claim
            claim.then(self._advance)
            if not self._ready():  # `_wait`, without a coroutine of its own a message
                self.waiter = loop.create_future()
                await self.waiter
            if self.message is None:  # it went out: the final reply is in, or the connection lost
                if not self.replies:
                    raise self.lost or aiosmtplib.SMTPServerDisconnected("connection closed")
                code, text = self.replies.popleft()
                if self.sent_ahead is not None and _answers_a_command(code, text):
                    raise aiosmtplib.SMTPServerDisconnected(f"a reply out of order: {code} {text}")
                if code == 250:
                    return text
                if self.sent_ahead is not None:  # the next transaction is open: end it unsent
                    self.close()
                raise TransactionFailed(Stage.FINAL, Reply(code, text))
            self.message = None
            if self.lost is not None:
                raise self.lost
            if claim.settled and not claim.ok:  # not ours to send: end the transaction, deliver nothing
                self.close()
                return None
            (mail_code, mail_text), (rcpt_code, rcpt_text), (data_code, data_text) = await self._read(3)
            if data_code == 354:
                self._write(b".\r\n")  # the server took DATA despite a refusal: send nothing
                await self._read(1)
            await self._reset()
        except CONNECTION_EXCEPTIONS as exc:
            self.close()
            raise lost_at(self.stage, exc, self.timeout) from None
        finally:
            self.deadline = None
            self.message, self.claim = None, None
            claim.then(None)
        if mail_code != 250:
            raise TransactionFailed(Stage.MAIL, Reply(mail_code, mail_text))
        if rcpt_code not in (250, 251):
            raise TransactionFailed(Stage.RCPT, Reply(rcpt_code, rcpt_text))
        raise TransactionFailed(Stage.DATA, Reply(data_code, data_text))

    def _open(self, commands: bytes) -> None:
        """A transaction's MAIL, RCPT and DATA, unless they went out with the last message.
        Commands sent ahead for another transaction (not a path the sender takes) leave that one
        open: the connection is given up, so that nothing of it can be delivered."""
        ahead, self.sent_ahead = self.sent_ahead, None
        if ahead == commands:
            return
        if ahead is not None:
            self._fail(aiosmtplib.SMTPServerDisconnected("another transaction's commands went out ahead"))
        self._write(commands)

    async def _reset(self) -> None:
        self._write(b"RSET\r\n")
        await self._read(1)
