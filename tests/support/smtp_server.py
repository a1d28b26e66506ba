"""A real SMTP server (aiosmtpd) on 127.0.0.1 for delivery tests, with faults on demand.

It offers PIPELINING unless told not to (aiosmtpd reads commands one after the other either
way), so both ways of sending get tested. `faults[address]` is a list of what the next attempts
for that address get, in order: an SMTP reply for RCPT ("451 ...", "550 ..."); "drop-rcpt" to cut
the connection at RCPT (before the message: nothing delivered); "drop-data" to cut it after the
whole message arrived but before the reply (the server keeps the message, the sender cannot
know); "slow-data" to keep the message and answer only after `slow_seconds` (counted from when
`slow_after()` first holds, if set: an order between connections); "reject-data" and
"defer-data" to refuse the whole message at its end (554 as a content filter does, 451). Received
messages (refused ones too) are kept with their envelope.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


DATA_FAULTS = ("drop-data", "slow-data", "reject-data", "defer-data")
HOLD_LIMIT = 30.0  # seconds a "slow-data" waits for `slow_after` at most


@dataclass
class Received:
    mail_from: str
    rcpt: str
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class FaultyHandler:
    faults: dict[str, list[str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    pipelining: bool = True  # offer RFC 2920 PIPELINING, as Postfix and most servers do
    mail_reply: str = ""  # a reply to every MAIL FROM instead of accepting it
    rcpt_reply: str = ""  # a reply to every RCPT TO instead of accepting it (a misconfigured relay)
    slow_seconds: float = 5.0
    slow_after: Callable[[], bool] | None = None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    def _next_fault(self, address: str, kind: str) -> str | None:
        with self.lock:
            queue = self.faults.get(address.lower())
            if queue and (queue[0] in DATA_FAULTS) == (kind == "data"):
                return queue.pop(0)
        return None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        fault = self._next_fault(address, "rcpt") or self.rcpt_reply
        if fault == "drop-rcpt":
            server.transport.abort()
            return "421 connection dropped"
        if fault:
            return fault
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        fault = self._next_fault(envelope.rcpt_tos[0], "data")
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append(Received(envelope.mail_from, rcpt, envelope.original_content))
                self.received_at.append(time.monotonic())
        if fault == "drop-data":
            server.transport.abort()
            return "421 connection dropped"
        if fault == "slow-data":
            held_until = time.monotonic() + HOLD_LIMIT
            while self.slow_after is not None and not self.slow_after() and time.monotonic() < held_until:
                await asyncio.sleep(0.01)
            await asyncio.sleep(self.slow_seconds)
        if fault == "reject-data":
            return "554 5.7.1 message refused as spam"
        if fault == "defer-data":
            return "451 4.3.0 try again later"
        return "250 2.0.0 queued"

    def counts(self) -> Counter:
        with self.lock:
            return Counter(r.rcpt for r in self.received)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Authenticator:
    def __init__(self, user: str, password: str):
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            self.user, self.password)
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


def start_server(handler: FaultyHandler, credentials: tuple[str, str] | None = None,
                 smtputf8: bool = False) -> Controller:
    kwargs: dict = {"enable_SMTPUTF8": smtputf8}
    if credentials:
        kwargs.update(authenticator=Authenticator(*credentials), auth_required=True,
                      auth_require_tls=False)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), ready_timeout=10,
                            data_size_limit=10 * 1024 * 1024, **kwargs)
    controller.start()
    return controller
