"""A sent issue with tracking on, and `gbaletter serve` running for it: what the click tests share.

The workspace's base_url is the server's own address, so the links in the received messages lead to
it; messages come from a real send into the test SMTP server.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from lxml import html as lxml_html
from sqlalchemy import update

from gbaletter.config import load_workspace
from gbaletter.db import Database, open_database, utcnow
from gbaletter.delivery.models import Delivery
from gbaletter.subscribers.models import Subscriber
from gbaletter.subscribers.service import add_subscriber
from support.smtp_server import free_port
from support.web_server import wait_for

ISSUE = "2019-W26"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def point_at(root: Path, base: str, tracking: str = "") -> None:
    """Make `base` the workspace's base_url and add a [tracking] table."""
    config = root / "gbaletter.toml"
    text = config.read_text().replace('base_url = "https://gba.example.org/newsletter"', f'base_url = "{base}"')
    config.write_text(text + ("\n[tracking]\n" + tracking + "\n" if tracking else ""))


def html_hrefs(message) -> list[str]:
    doc = lxml_html.fromstring(message.get_body(("html",)).get_content())
    return [str(href) for href in doc.xpath("//a/@href")]


def image_sources(message) -> list[str]:
    doc = lxml_html.fromstring(message.get_body(("html",)).get_content())
    return [str(src) for src in doc.xpath("//img/@src")]


def set_sent_at(db: Database, email: str, ago: timedelta) -> None:
    """Pretend the message to `email` was delivered `ago` before now (no sleeping in tests)."""
    with db.session() as session:
        subscriber_id = session.query(Subscriber.id).filter(Subscriber.email == email).scalar()
        session.execute(update(Delivery).where(Delivery.subscriber_id == subscriber_id)
                        .values(sent_at=utcnow() - ago))


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url)
    except httpx.TransportError:
        return None


@contextmanager
def gbaletter_serve(root: Path, port: int) -> Iterator[subprocess.Popen]:
    """The real `gbaletter serve` in a subprocess; stopped with Ctrl-C (a clean shutdown)."""
    process = subprocess.Popen([sys.executable, "-m", "gbaletter", "--root", str(root), "serve",
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/subscribe"), timeout=30)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=20)


def new_port() -> tuple[int, str]:
    port = free_port()
    return port, f"http://127.0.0.1:{port}"


@dataclass
class SentIssue:
    root: Path
    db: Database
    base: str
    port: int
    mail: object  # support.smtp_server.FaultyHandler

    def message_to(self, address: str):
        [message] = [r.message for r in self.mail.received if r.rcpt == address]
        return message

    def tracked_links(self, address: str) -> list[str]:
        """The message's tracked links, each once, in the order of the HTML."""
        return [h for h in dict.fromkeys(html_hrefs(self.message_to(address))) if h.startswith(f"{self.base}/c/")]


def send_tracked(root: Path, mail, run_cli, readers: dict[str, str], tracking: str) -> SentIssue:
    """Build the sample issue and send it for real to `readers` (address -> name), tracking set so."""
    port, base = new_port()
    point_at(root, base, tracking)
    db = open_database(load_workspace(root))
    with db.session() as session:
        for address, name in readers.items():
            add_subscriber(session, address, name=name, tags=["technology"])
    assert run_cli(root, "issue", "build", ISSUE).exit_code == 0
    # --ignore-check: the check rightly calls the 127.0.0.1 archive link an error; here it is the point
    result = run_cli(root, "issue", "send", ISSUE, "--segment", "tag:technology", "--ignore-check")
    assert result.exit_code == 0, result.stderr
    return SentIssue(root, db, base, port, mail)
