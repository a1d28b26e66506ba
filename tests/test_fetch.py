"""The one safe fetcher (gbaletter.fetch), against real HTTP servers on 127.0.0.1.

Redirects into link-local and internal networks are answered by the test server; the fetcher
must refuse them before it connects (nothing here ever connects to 169.254.x or 10.x).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator

import pytest

from gbaletter.fetch import Fetcher, FetchError, is_public, parse_networks
from support.http_server import QuietHandler, http_server

LOCAL = parse_networks(["127.0.0.1"])


class _Server(QuietHandler):

    def do_GET(self) -> None:
        if self.path == "/ok":
            self._answer(200, b"fine body")
        elif self.path.startswith("/to/"):  # /to/<url>: a redirect there
            self.send_response(302)
            self.send_header("Location", self.path[len("/to/"):])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/drip":  # one byte every second, for ever
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(1)
        elif self.path == "/endless":  # chunks with no end and no length
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"y" * 65536
            while True:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(50_000_000))
            self.end_headers()
        else:
            self._answer(404, b"not here")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)



@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with http_server(_Server) as base:
        yield base


def test_a_body_is_fetched_from_an_allowed_network(server):
    fetched = Fetcher(LOCAL).get(f"{server}/ok")
    assert (fetched.content, fetched.content_type) == (b"fine body", "text/plain")


def test_loopback_is_refused_unless_allowed(server):
    with pytest.raises(FetchError, match=r"refused: 127\.0\.0\.1 is 127\.0\.0\.1, a private, loopback"):
        Fetcher().get(f"{server}/ok")


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/admin",
                                    "http://[::ffff:10.1.2.3]/", "http://0.0.0.0/", "http://[fe80::1]/"])
def test_a_redirect_into_an_internal_network_is_refused_before_connecting(server, target):
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"refused: .* a private, loopback or link-local address"):
        Fetcher(LOCAL, deadline=5).get(f"{server}/to/{target}")
    assert time.monotonic() - started < 1  # refused, not a connection attempt that timed out


def test_a_redirect_to_another_scheme_is_refused(server):
    with pytest.raises(FetchError, match=r"only http and https .* \(redirected to file:///etc/passwd\)"):
        Fetcher(LOCAL).get(f"{server}/to/file:///etc/passwd")


def test_a_redirect_is_followed_to_an_allowed_address(server):
    assert Fetcher(LOCAL).get(f"{server}/to/{server}/ok").url == f"{server}/ok"


def test_a_slow_drip_is_cut_at_the_overall_deadline(server):
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"/drip: no complete answer within 2 s"):
        Fetcher(LOCAL, deadline=2).get(f"{server}/drip")
    assert time.monotonic() - started < 3


def test_an_endless_body_is_refused_at_the_cap(server):
    with pytest.raises(FetchError, match=r"/endless: longer than the 1.0 MB a download may be"):
        Fetcher(LOCAL, max_bytes=1_000_000).get(f"{server}/endless")


def test_a_declared_length_over_the_cap_is_refused_unread(server):
    with pytest.raises(FetchError, match=r"/big: 50.0 MB is more than the 20.0 MB"):
        Fetcher(LOCAL).get(f"{server}/big")


def test_an_http_error_is_one_line(server):
    with pytest.raises(FetchError, match=r"^http://127.0.0.1:\d+/nothing: HTTP 404 Not Found$"):
        Fetcher(LOCAL).get(f"{server}/nothing")


@pytest.mark.parametrize(("address", "public"), [("93.184.215.14", True), ("2606:2800:21f::1", True),
                                                 ("192.168.1.1", False), ("100.64.0.1", False),
                                                 ("::1", False), ("224.0.0.1", False),
                                                 ("::ffff:169.254.1.1", False)])
def test_which_addresses_are_public(address, public):
    assert is_public(ipaddress.ip_address(address)) is public
