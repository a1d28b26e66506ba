"""Behind a reverse proxy: believe its X-Forwarded-* headers, and nobody else's.

The proxy that terminates TLS connects from its own address; the headers it adds say what the
subscriber's browser or mail client sent: the scheme (X-Forwarded-Proto), the host
(X-Forwarded-Host) and the client's address (X-Forwarded-For). They are honoured only when the
connection comes from one of `[web] trusted_proxies`; from anyone else they are ignored, since
anyone can send them. Proto and For are uvicorn's `ProxyHeadersMiddleware` (which walks
X-Forwarded-For from the right, skipping trusted hops); Host is done here, as uvicorn leaves it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, cast

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from starlette.types import ASGIApp, Receive, Scope, Send

# host, IPv4 or [IPv6], optional port: nothing that could carry a path, a space or a second header
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


def _networks(trusted: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in trusted]


def _is_trusted(peer: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:  # a Unix socket or no peer at all: nothing to believe
        return False
    return any(address in network for network in networks)


def forwarded_host(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The host the nearest proxy says the client asked for: the last X-Forwarded-Host value
    (each proxy appends its own), or None when there is none or it is not a plain host[:port]."""
    values = [value for name, value in headers if name == b"x-forwarded-host"]
    if not values:
        return None
    host = values[-1].decode("latin-1").split(",")[-1].strip()
    return host.encode("ascii") if _HOST.fullmatch(host) else None


class TrustedProxyHeaders:
    """ASGI middleware: `app` sees the client's scheme, host and address when a trusted proxy
    forwarded the request, and the connection's own otherwise."""

    def __init__(self, app: ASGIApp, trusted: list[str]):
        self.networks = _networks(trusted)
        # uvicorn types ASGI apps more narrowly than Starlette; both are plain ASGI callables
        self.app = cast(ASGIApp, ProxyHeadersMiddleware(cast(Any, app),
                                                        trusted_hosts=[str(n) for n in self.networks]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client and _is_trusted(client[0], self.networks):
            host = forwarded_host(scope["headers"])
            if host is not None:  # in place, as uvicorn's middleware does: the access log reads it
                scope["headers"] = [(name, value) for name, value in scope["headers"]
                                    if name != b"host"] + [(b"host", host)]
        await self.app(scope, receive, send)
