"""SMTP settings (config, overridden by environment variables) and connections to the server.

Certificates are verified by default (the system's CAs, plus `GBALETTER_SMTP_CAFILE` if set, for
a private relay). The password is read from the environment only.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
from dataclasses import dataclass
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiosmtplib

from ..config import SmtpSettings
from ..errors import GbaletterError
from .outcome import Failure, Reply, Stage, TransactionFailed
from .pipeline import CONNECTION_EXCEPTIONS, PipeliningConnection, lost_at, transaction_commands

if TYPE_CHECKING:  # (the writer's database code is not loaded with the SMTP code)
    from .writer import Claim

ENV_PREFIX = "GBALETTER_SMTP_"
# what may stand between <> in MAIL FROM / RCPT TO: no spaces, brackets, quotes or controls
SAFE_ADDRESS = re.compile(r"[^\s<>\"\x00-\x1f\x7f]+@[^\s<>\"\x00-\x1f\x7f]+", re.ASCII)


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: str
    username: str
    password: str
    timeout: float
    cafile: str = ""

    def describe(self) -> str:
        return f"{self.host}:{self.port}"


def smtp_target(settings: SmtpSettings, environ: dict | None = None) -> SmtpTarget:
    """The server to use: `[smtp]` in gbaletter.toml, each key overridable by GBALETTER_SMTP_*."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {"host": settings.host, "port": settings.port, "tls": settings.tls,
                              "username": settings.username}
    for key in values:
        raw = env.get(ENV_PREFIX + key.upper())
        if raw is None or raw == "":
            continue
        if key == "port":
            if not raw.isdigit():
                raise GbaletterError(f"{ENV_PREFIX}PORT must be a port number, not '{raw}'")
            values[key] = int(raw)
        else:
            values[key] = raw
    if values["tls"] not in ("starttls", "tls", "none"):
        raise GbaletterError(f"{ENV_PREFIX}TLS must be starttls, tls or none, not '{values['tls']}'")
    password = env.get(ENV_PREFIX + "PASSWORD", "")
    if values["username"] and not password:
        raise GbaletterError(f"SMTP user '{values['username']}' needs {ENV_PREFIX}PASSWORD in the environment")
    return SmtpTarget(password=password, timeout=settings.timeout,
                      cafile=env.get(ENV_PREFIX + "CAFILE", ""), **values)


def _tls_context(target: SmtpTarget) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if target.cafile:
        context.load_verify_locations(cafile=target.cafile)
    return context


def explain(exc: BaseException, target: SmtpTarget) -> str:
    """One line for a failure to reach or log in to the server."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return f"SMTP server {target.describe()} refused the login for '{target.username}': {exc.message}"
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return f"SMTP server {target.describe()}: TLS certificate not trusted ({getattr(exc, 'verify_message', exc)})"
    if isinstance(exc, (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, OSError)):
        return f"cannot reach SMTP server {target.describe()}: {getattr(exc, 'message', None) or exc}"
    return f"SMTP server {target.describe()}: {exc}"


# failures of the connection itself (as opposed to an SMTP reply)
def connect_failure(exc: BaseException) -> tuple[Stage, Reply]:
    """Where opening a connection failed, and how, as the outcome table's input."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return Stage.AUTH, Reply(exc.code, exc.message)
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return Stage.TLS, Reply(failure=Failure.TLS_UNTRUSTED, text=str(exc))
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return Stage.GREETING, Reply(exc.code, exc.message)
    if isinstance(exc, aiosmtplib.SMTPResponseException):  # EHLO, STARTTLS refused
        return Stage.GREETING, Reply(exc.code, exc.message)
    failure = Failure.TIMEOUT if isinstance(exc, TimeoutError | aiosmtplib.SMTPTimeoutError) else Failure.RESET
    return Stage.CONNECT, Reply(failure=failure, text=str(exc))


async def connect(target: SmtpTarget) -> aiosmtplib.SMTP:
    """An open, logged-in connection; raises aiosmtplib/OS errors for the caller to classify."""
    client = aiosmtplib.SMTP(
        hostname=target.host, port=target.port, timeout=target.timeout,
        use_tls=target.tls == "tls", start_tls=target.tls == "starttls",
        tls_context=_tls_context(target) if target.tls != "none" else None,
    )
    await client.connect()
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()  # SmtpConnection issues MAIL itself, so the greeting must be done here
    if target.username:
        await client.login(target.username, target.password)
    return client


class SmtpConnection:
    """A logged-in connection that sends DATA-ready messages, pipelined where the server allows.

    aiosmtplib's `sendmail` parses both addresses and rewrites every line ending of the message
    twice with regular expressions: ~1.5 ms for a 45 KB newsletter, most of a sender's CPU. The
    messages here were normalized and dot-stuffed once per issue (`prepare.message_parts`), so
    their parts are written as they are; one deadline covers a transaction's commands, and the
    message's end gets the whole of it again once it goes out.
    """

    def __init__(self, client: aiosmtplib.SMTP, timeout: float):
        self.client = client
        self.timeout = timeout
        self.smtputf8 = client.supports_extension("smtputf8")
        self.pipeline = PipeliningConnection.take_over(client, timeout)
        self._stage = Stage.MAIL  # where a one-command-at-a-time transaction is

    @property
    def is_connected(self) -> bool:
        return self.pipeline.is_connected if self.pipeline else self.client.is_connected

    def close(self) -> None:
        if self.pipeline:
            self.pipeline.close()
        else:
            self.client.close()

    @property
    def stage(self) -> Stage:
        return self.pipeline.stage if self.pipeline else self._stage

    def can_carry(self, recipient: str) -> bool:
        """Whether `send` would put the address in an envelope: a usable one, in ASCII unless
        the server offers SMTPUTF8."""
        return (recipient.isascii() or self.smtputf8) and SAFE_ADDRESS.fullmatch(recipient) is not None

    def follow_with(self, next_row: Callable[[SmtpConnection], tuple[bytes, str] | None]) -> None:
        """Where the server pipelines: as each message goes out, `next_row(self)` gives the
        return path and address of the row this connection sends next (None: none yet), whose
        MAIL, RCPT and DATA then go in the same write (`pipeline.py`); its `send` skips them."""
        if self.pipeline is not None:
            self.pipeline.next_commands = lambda: _commands_of(next_row(self))

    def send(self, sender: bytes, recipient: str, message: list[bytes], claim: Claim) -> Awaitable[str | None]:
        """One message (DATA as parts), handed over only once its row's `claim` has committed;
        returns the server's final reply, or None when the claim failed (nothing was sent), or
        raises `TransactionFailed` with the stage and reply that refused it. A lost connection or
        a timeout is a failure at the stage it happened in: before the final dot nothing was
        delivered, after it the server may have the message (the outcome table makes that row
        uncertain). Not a coroutine: the pipelined send's own coroutine is what the caller awaits."""
        if not SAFE_ADDRESS.fullmatch(recipient):
            raise TransactionFailed(Stage.RCPT, Reply(501, "5.1.3 address not usable in an SMTP envelope"))
        mail_from, rcpt_to = _envelope(sender, recipient)
        if self.pipeline:  # the commands go out while the claim commits; times out on its own
            return self.pipeline.send(mail_from, rcpt_to, message, claim)
        return self._send_unpipelined(mail_from, rcpt_to, message, claim)

    async def _send_unpipelined(self, mail_from: bytes, rcpt_to: bytes, message: list[bytes],
                                claim: Claim) -> str | None:
        try:
            if not await claim:
                return None
            async with asyncio.timeout(self.timeout):
                return await self._transaction(mail_from, rcpt_to, b"".join(message))
        except CONNECTION_EXCEPTIONS as exc:  # (TimeoutError among them)
            self.close()
            raise lost_at(self.stage, exc, self.timeout) from None

    async def _transaction(self, mail_from: bytes, rcpt_to: bytes, data: bytes) -> str:
        """MAIL, RCPT, DATA one at a time, for servers without PIPELINING."""
        client = self.client
        self._stage = Stage.MAIL
        steps = ((Stage.MAIL, mail_from, (250,)), (Stage.RCPT, rcpt_to, (250, 251)), (Stage.DATA, b"DATA", (354,)))
        for stage, line, expected in steps:
            self._stage = stage
            command, _, arguments = line.partition(b" ")
            response = await client.execute_command(command, *([arguments] if arguments else []), timeout=None)
            if response.code not in expected:
                if stage is not Stage.MAIL:
                    await client.rset()  # end the failed transaction; the connection stays usable
                raise TransactionFailed(stage, Reply(response.code, response.message))
        protocol = client.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("connection lost")
        self._stage = Stage.FINAL
        protocol.write(data)
        response = await protocol.read_response(timeout=None)
        if response.code != 250:
            raise TransactionFailed(Stage.FINAL, Reply(response.code, response.message))
        return response.message


def _envelope(sender: bytes, recipient: str) -> tuple[bytes, bytes]:
    """The MAIL and RCPT command lines (without CRLF) of a transaction."""
    mail_from = b"MAIL FROM:<" + sender + b">" + (b"" if recipient.isascii() else b" SMTPUTF8")
    return mail_from, b"RCPT TO:<" + recipient.encode("utf-8") + b">"


def _commands_of(envelope: tuple[bytes, str] | None) -> bytes | None:
    return None if envelope is None else transaction_commands(*_envelope(*envelope))


async def open_connection(target: SmtpTarget) -> SmtpConnection:
    return SmtpConnection(await connect(target), target.timeout)


async def send_one(target: SmtpTarget, envelope_from: str, address: str, message: bytes) -> str:
    """One message on a connection of its own (test copies, confirmation emails); returns the
    server's reply, or raises GbaletterError with one line saying what went wrong."""
    try:
        client = await connect(target)
    except (aiosmtplib.SMTPException, *CONNECTION_EXCEPTIONS) as exc:
        raise GbaletterError(explain(exc, target)) from None
    try:
        _, reply = await client.sendmail(envelope_from, [address], message)
        return reply
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise GbaletterError(f"{address} refused: {exc.recipients[0].code} {exc.recipients[0].message}") from None
    except aiosmtplib.SMTPResponseException as exc:
        raise GbaletterError(f"SMTP server {target.describe()}: {exc.code} {exc.message}") from None
    except CONNECTION_EXCEPTIONS as exc:
        raise GbaletterError(explain(exc, target)) from None
    finally:
        client.close()
