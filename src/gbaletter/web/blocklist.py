"""`[web] blocked_domains_file`: domains (disposable-mail services, say) whose addresses the
subscribe form takes no sign-up from. One domain a line; blank lines and `#` comments are skipped;
a domain blocks its subdomains too. The visitor sees the same answer page as everyone.
"""

from __future__ import annotations

from ..config import Workspace
from ..errors import GbaletterError


class BlockedDomains:
    def __init__(self, domains: frozenset[str]):
        self.domains = domains

    @classmethod
    def of(cls, ws: Workspace) -> BlockedDomains:
        """The workspace's list, read once (serve reads it at start); empty when not set."""
        setting = ws.config.web.blocked_domains_file
        if not setting:
            return cls(frozenset())
        path = ws.root / setting
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise GbaletterError(f"[web] blocked_domains_file {setting}: cannot read: "
                                 f"{getattr(exc, 'strerror', None) or exc}") from None
        return cls(frozenset(domain for line in lines
                             if (domain := line.split("#", 1)[0].strip().lower().rstrip("."))))

    def blocks(self, address: str) -> bool:
        """Whether the address's domain, or a domain it is under, is on the list."""
        labels = address.rpartition("@")[2].lower().split(".")
        return any(".".join(labels[i:]) in self.domains for i in range(len(labels)))
