"""What readers and bounces reach: `base_url`'s /healthz over HTTPS with a certificate this
machine trusts, and the bounce mailbox."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import httpx

from ..config import Workspace
from ..errors import GbaletterError
from ..links import public_url
from .findings import Finding, error, ok, warning

TIMEOUT = 10.0


def healthz_findings(ws: Workspace) -> list[Finding]:
    base = ws.config.newsletter.base_url
    url = public_url(ws, "/healthz")
    if urlsplit(base).scheme != "https":
        return [error("web", "https", f"base_url {base} is not https: unsubscribe links would go in clear "
                      "(and Gmail's one-click unsubscribe wants https)",
                      "serve it behind TLS (docs/deploy.md) and write base_url = \"https://...\"")]
    try:
        # verified against the system's CAs (OpenSSL also reads SSL_CERT_FILE)
        response = httpx.get(url, timeout=TIMEOUT, follow_redirects=False,
                             verify=ssl.create_default_context())
    except httpx.ConnectError as exc:
        certificate = "CERTIFICATE_VERIFY_FAILED" in str(exc)
        return [error("web", "healthz", f"{url}: " + ("TLS certificate not trusted" if certificate
                                                      else f"cannot connect ({exc})"),
                      "give the site a certificate from a public CA (docs/deploy.md)" if certificate
                      else "start `gbaletter serve` behind the proxy base_url names (docs/deploy.md)")]
    except httpx.HTTPError as exc:
        return [error("web", "healthz", f"{url}: {exc}", "check `gbaletter serve` and the proxy (docs/deploy.md)")]
    if response.status_code != 200:
        return [error("web", "healthz", f"{url} answered {response.status_code}",
                      "check `gbaletter serve` and the proxy (docs/deploy.md)")]
    return [ok("web", "healthz", f"{url} answers 200 over HTTPS with a trusted certificate")]


def mailbox_findings(ws: Workspace) -> list[Finding]:
    from ..feedback.mailbox import open_source

    if not ws.config.bounces.source:
        return [warning("bounces", "mailbox", "no bounce mailbox: bounces and complaints are not read",
                        "set [bounces] source (docs/bounces.md) and run `gbaletter bounces process`")]
    try:
        open_source(ws).close()
    except GbaletterError as exc:
        return [error("bounces", "mailbox", str(exc), "fix [bounces] in gbaletter.toml (docs/bounces.md)")]
    return [ok("bounces", "mailbox", f"the bounce mailbox ({ws.config.bounces.source}) opens")]
