"""The relay as a send will use it: connect, TLS verified, login, then MAIL FROM and RCPT TO for
the sender's own address, and RSET: no DATA, nothing delivered."""

from __future__ import annotations

import asyncio
from email.utils import parseaddr

import aiosmtplib

from ..config import Workspace
from ..delivery.guards import relay_is_local
from ..delivery.smtp import CONNECTION_EXCEPTIONS, SmtpTarget, connect, explain, smtp_target
from ..errors import GbaletterError
from ..links import plain_envelope_sender
from .findings import Finding, error, ok


def relay_findings(ws: Workspace) -> list[Finding]:
    try:
        target = smtp_target(ws.config.smtp)
    except GbaletterError as exc:
        return [error("smtp", "settings", str(exc), "set the SMTP settings (README: A workspace of your own)")]
    found = []
    if target.tls == "none" and not relay_is_local(target.host):
        found.append(error("smtp", "tls", f"tls = \"none\" to {target.describe()}: mail and password "
                           "would cross the network in clear", 'set [smtp] tls = "starttls" (or "tls")'))
    return found + asyncio.run(_probe(ws, target))


async def _probe(ws: Workspace, target: SmtpTarget) -> list[Finding]:
    try:
        client = await connect(target)
    except (aiosmtplib.SMTPException, *CONNECTION_EXCEPTIONS) as exc:
        return [error("smtp", "connect", explain(exc, target),
                      "check [smtp] host, port, tls and username (GBALETTER_SMTP_* override them)")]
    found = [ok("smtp", "connect", f"connected to {target.describe()}"
                + (", TLS certificate verified" if target.tls != "none" else " (no TLS: this machine)")
                + (f", logged in as {target.username}" if target.username else ""))]
    sender = plain_envelope_sender(ws)
    recipient = parseaddr(ws.config.newsletter.sender)[1]
    try:
        for command, argument in (("MAIL", f"FROM:<{sender}>"), ("RCPT", f"TO:<{recipient}>")):
            reply = await client.execute_command(command.encode(), argument.encode())
            if reply.code >= 300:
                found.append(error("smtp", "envelope", f"the relay refused {command} {argument}: "
                                   f"{reply.code} {reply.message}",
                                   "allow this envelope sender for your login at the relay, or change "
                                   "[smtp] envelope_sender"))
                break
        else:
            found.append(ok("smtp", "envelope", f"the relay takes MAIL FROM:<{sender}> and "
                            f"RCPT TO:<{recipient}> (nothing sent)"))
        await client.rset()
        await client.quit()
    except (aiosmtplib.SMTPException, *CONNECTION_EXCEPTIONS) as exc:
        found.append(error("smtp", "envelope", explain(exc, target), "check the relay's logs"))
    finally:
        client.close()
    return found
