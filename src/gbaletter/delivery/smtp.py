"""SMTP settings (config, overridden by environment variables) and connections to the server.

Certificates are verified by default (the system's CAs, plus `GBALETTER_SMTP_CAFILE` if set, for
a private relay). The password is read from the environment only.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass

import aiosmtplib

from ..config import SmtpSettings
from ..errors import GbaletterError

ENV_PREFIX = "GBALETTER_SMTP_"


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
    values = {"host": settings.host, "port": settings.port, "tls": settings.tls,
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


async def connect(target: SmtpTarget) -> aiosmtplib.SMTP:
    """An open, logged-in connection; raises aiosmtplib/OS errors for the caller to classify."""
    client = aiosmtplib.SMTP(
        hostname=target.host, port=target.port, timeout=target.timeout,
        use_tls=target.tls == "tls", start_tls=target.tls == "starttls",
        tls_context=_tls_context(target) if target.tls != "none" else None,
    )
    await client.connect()
    if target.username:
        await client.login(target.username, target.password)
    return client
