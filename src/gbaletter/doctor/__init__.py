"""`gbaletter doctor`: whether this workspace can send, each finding one line with its fix.

Checks the settings (`settings`), the relay (`relay`: connect, verified TLS, login, an envelope
without DATA), the DNS of the From and envelope domains (`dnscheck`: SPF, DKIM, DMARC, MX,
alignment, read with dnspython), `base_url`'s /healthz over verified HTTPS and the bounce mailbox
(`reachable`). docs/doctor.md lists every finding and its fix.
"""

from __future__ import annotations

from ..config import Workspace
from .dnscheck import dns_findings
from .findings import Finding
from .reachable import healthz_findings, mailbox_findings
from .relay import relay_findings
from .settings import settings_findings


def run_doctor(ws: Workspace, nameserver: str | None = None) -> list[Finding]:
    """Every finding, in the order a desk would fix them."""
    return [*settings_findings(ws), *relay_findings(ws), *dns_findings(ws, nameserver),
            *healthz_findings(ws), *mailbox_findings(ws)]


__all__ = ["Finding", "run_doctor"]
