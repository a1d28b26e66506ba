"""Every download gbaletter makes (a feed for `posts import`, a post's image at build): one safe GET.

A URL in a feed or a post is written by someone else, so a fetch may only:
- use http or https, and follow at most MAX_REDIRECTS redirects, each checked the same way;
- reach public addresses: every address a host name resolves to is checked when the connection is
  made (so a redirect, or DNS that answers differently the second time, cannot slip past), and a
  private, loopback, link-local, reserved or multicast one is refused before any connection, unless
  it is in `[fetch] allow_networks` (a desk's own intranet, or the tests' servers on 127.0.0.1);
- take at most `deadline` seconds in all: resolving, connecting, TLS and every read share one clock, so a
  server that sends one byte every few seconds is cut off at the deadline, not held by a per-read
  timeout;
- read at most `max_bytes`: a longer body (or an endless one) is refused as soon as it passes the
  cap, never read into memory.

httpcore (httpx's transport) does the HTTP; this module plugs in its network backend, which is
where addresses are checked and where the deadline bounds every socket operation.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore

from . import __version__
from .config import Workspace
from .errors import GbaletterError

MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchError(GbaletterError):
    """One line saying why `url` could not be fetched (the URL is in the message)."""


@dataclass(frozen=True)
class Fetched:
    url: str  # where the body came from, after redirects
    content: bytes
    content_type: str


def parse_networks(values: Iterable[str]) -> tuple[_Network, ...]:
    """`[fetch] allow_networks` as networks; ValueError names a value that is none."""
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A public unicast address: not private, loopback, link-local, shared (100.64/10), reserved,
    multicast or unspecified; an IPv4-mapped IPv6 address is judged as the IPv4 one it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


class _Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def timeout(self, asked: float | None) -> float:
        """The time one socket operation may take: what httpcore asks, never past the deadline."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout(f"no complete answer within {self.seconds:g} s")
        return left if asked is None else min(asked, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline):
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.timeout(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.timeout(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, self._deadline.timeout(timeout))
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves the host itself, refuses a non-public address that is not allowed, and connects
    to the address it checked (not to the name, which could resolve elsewhere a moment later)."""

    def __init__(self, deadline: _Deadline, allowed: tuple[_Network, ...]):
        self._deadline = deadline
        self._allowed = allowed
        self._inner = httpcore.SyncBackend()

    def _resolve(self, host: str, port: int) -> list:
        """getaddrinfo, given no longer than the deadline leaves (a name server the feed's owner
        runs can stall): it runs in a daemon thread, left to finish on its own if it is late."""
        pending: concurrent.futures.Future = concurrent.futures.Future()

        def resolve() -> None:
            try:
                pending.set_result(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
            except Exception as exc:  # handed to the waiting caller below
                pending.set_exception(exc)

        threading.Thread(target=resolve, name="gbaletter-resolve", daemon=True).start()
        try:
            return pending.result(timeout=self._deadline.timeout(None))
        except concurrent.futures.TimeoutError:
            raise httpcore.ConnectTimeout(f"{host} did not resolve in time") from None
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None

    def _checked_addresses(self, host: str, port: int) -> list[str]:
        found = self._resolve(host, port)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        for text in addresses:
            address = ipaddress.ip_address(text.split("%")[0])
            if not is_public(address) and not any(address in net for net in self._allowed):
                raise _Refused(f"{host} is {address}, a private, loopback or link-local address "
                               "(not in [fetch] allow_networks)")
        return addresses

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options=None) -> httpcore.NetworkStream:
        problem: Exception | None = None
        for address in self._checked_addresses(host, port):
            try:
                stream = self._inner.connect_tcp(address, port, self._deadline.timeout(timeout),
                                                 local_address, socket_options)
            except httpcore.ConnectError as exc:
                problem = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        raise problem or httpcore.ConnectError(f"{host} has no address")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options=None) -> httpcore.NetworkStream:
        raise _Refused("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _Refused(httpcore.ConnectError):
    """An address the fetch may not reach: said as it is, not as a failed connection."""


@dataclass(frozen=True)
class Fetcher:
    """GETs with the guards above; one Fetcher serves a whole import or build."""

    allow_networks: tuple[_Network, ...] = ()
    deadline: float = 30.0
    max_bytes: int = 20_000_000
    purpose: str = "fetch"  # in the User-Agent: "feed import", "images"

    def get(self, url: str, accept: str = "*/*") -> Fetched:
        """The body at `url`; FetchError with one line naming the URL otherwise."""
        deadline = _Deadline(self.deadline)
        context = ssl.create_default_context()
        with httpcore.ConnectionPool(ssl_context=context,
                                     network_backend=_GuardedBackend(deadline, self.allow_networks)) as pool:
            current = url
            for _ in range(MAX_REDIRECTS + 1):
                _check_url(url, current)
                try:
                    result = self._get_once(pool, url, current, accept)
                except _Refused as exc:
                    raise FetchError(f"{url}: refused: {exc}") from None
                except httpcore.TimeoutException:
                    raise FetchError(f"{url}: no complete answer within {self.deadline:g} s") from None
                except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
                        ssl.SSLError, OSError) as exc:
                    raise FetchError(f"{url}: cannot fetch: {exc or type(exc).__name__}") from None
                if isinstance(result, Fetched):
                    return result
                current = result
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")

    def _get_once(self, pool: httpcore.ConnectionPool, url: str, current: str, accept: str) -> Fetched | str:
        """The body, or the next URL when the answer is a redirect."""
        headers: dict[bytes | str, bytes | str] = {
            "User-Agent": f"gbaletter/{__version__} ({self.purpose})", "Accept": accept,
            "Accept-Encoding": "identity"}
        with pool.stream("GET", current, headers=headers) as response:
            fields = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
            if response.status in _REDIRECTS and fields.get("location"):
                return urljoin(current, fields["location"])
            if response.status >= 400:
                reason = response.extensions.get("reason_phrase", b"").decode("latin-1")
                raise FetchError(f"{url}: HTTP {response.status} {reason}".rstrip())
            length = fields.get("content-length", "")
            if length.isdigit() and int(length) > self.max_bytes:
                raise FetchError(f"{url}: {_megabytes(int(length))} is more than the "
                                 f"{_megabytes(self.max_bytes)} a download may be")
            body = bytearray()
            for chunk in response.iter_stream():
                body += chunk
                if len(body) > self.max_bytes:
                    raise FetchError(f"{url}: longer than the {_megabytes(self.max_bytes)} a "
                                     "download may be; not read further")
            return Fetched(current, bytes(body), fields.get("content-type", ""))


def _check_url(url: str, current: str) -> None:
    parts = urlsplit(current)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        via = "" if current == url else f" (redirected to {current})"
        raise FetchError(f"{url}: only http and https addresses with a host are fetched{via}")


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


def fetcher_for(ws: Workspace, purpose: str) -> Fetcher:
    """The Fetcher `[fetch]` sets up (the settings were checked when the workspace loaded)."""
    settings = ws.config.fetch
    return Fetcher(parse_networks(settings.allow_networks), settings.deadline, settings.max_bytes, purpose)
