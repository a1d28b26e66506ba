"""The settings `doctor` checks before anything on the network: placeholders, the secret, the
sender and envelope addresses."""

from __future__ import annotations

import os
from email.utils import parseaddr

from ..config import Workspace, placeholder_settings
from ..tokens import SECRET_ENV
from .findings import Finding, error, ok, warning

STRONG_SECRET = 32  # characters; `tokens` refuses fewer than 16
SECRET_FIX = f"put {SECRET_ENV}=<the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'> in .env"


def settings_findings(ws: Workspace) -> list[Finding]:
    found = [error("settings", "placeholder", line, "put in your own value in gbaletter.toml")
             for line in placeholder_settings(ws.config)]
    found.append(_secret())
    news, smtp = ws.config.newsletter, ws.config.smtp
    if not parseaddr(news.sender)[1].count("@") == 1:
        found.append(error("settings", "sender", f"[newsletter] sender '{news.sender}' is not an address",
                           'write it as "Name <address@your-domain>"'))
    if not smtp.envelope_sender:
        found.append(warning("settings", "envelope", "[smtp] envelope_sender is empty: bounces go to the "
                             "From address", 'set it to an address of your bounce mailbox, e.g. '
                             f'"bounces@{parseaddr(news.sender)[1].rpartition("@")[2]}"'))
    if not [f for f in found if f.status != "ok"]:
        found.append(ok("settings", "settings", "no placeholders; secret, sender and envelope set"))
    return found


def _secret() -> Finding:
    value = os.environ.get(SECRET_ENV, "")
    if not value:
        return error("settings", "secret", f"{SECRET_ENV} is not set (it signs every unsubscribe link)",
                     SECRET_FIX)
    if len(value) < STRONG_SECRET or len(set(value)) < 10:
        return error("settings", "secret", f"{SECRET_ENV} is weak ({len(value)} characters, "
                     f"{len(set(value))} different; want {STRONG_SECRET}+ random ones)", SECRET_FIX)
    return ok("settings", "secret", f"{SECRET_ENV} is set and strong")
