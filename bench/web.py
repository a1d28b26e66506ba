"""`gbaletter serve` under load: the click redirect and the one-click unsubscribe POST.

The load generator is wrk (Debian package `wrk`, C, one connection per slot, latencies measured
per request); each case runs against `gbaletter serve` and against a bare Starlette route served the
same way in the same run (bench/reference_app.py), for the ratio. The click paths cycle over every
(delivery, link) of a real journal; the POSTs over every subscriber's unsubscribe link (the first
POST of each unsubscribes, the repeats are the idempotent no-ops RFC 8058 clients send). After the
server stops cleanly, the recorded clicks are counted against wrk's request count.

A last case runs the POSTs while an issue goes out to the same list (bench/web_send.py).

    python -m bench web [SECONDS] [CONCURRENCY] [send]    (defaults: 10 64; `send`: that case only)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from gbaletter.config import load_workspace
from gbaletter.db import open_database, utcnow
from gbaletter.delivery import journal, tracked
from gbaletter.delivery.models import Delivery, State
from gbaletter.issue.links import read_links
from gbaletter.links import UNSUBSCRIBE, delivery_tokens, signer_for
from gbaletter.subscribers.segments import segment_filter
from gbaletter.tracking.models import TrackingEvent

from . import web_send
from .build import ISSUE, copy_workspace
from .common import report
from .send import add_subscribers

SUBSCRIBERS = 5000
SECRET = "bench-secret-0123456789abcdef"
REQUESTS = re.compile(r"(\d+) requests in")
RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
PERCENTILE = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.M)
BAD_STATUS = re.compile(r"Non-2xx or 3xx responses: (\d+)")
SOCKET_ERRORS = re.compile(r"Socket errors: (.*)")
SCRIPT = """
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local i = math.random(#paths)
%(setup)s
request = function()
  i = i %% #paths + 1
  return wrk.format(nil, paths[i])
end
"""
POST_SETUP = """wrk.method = "POST"
wrk.body = "List-Unsubscribe=One-Click"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int, process: subprocess.Popen) -> None:
    for _ in range(300):
        if process.poll() is not None:
            sys.exit(f"server on port {port} exited: {process.communicate()[1][-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"nothing listens on port {port}")


def _wrk(url: str, script: Path, seconds: int, concurrency: int) -> tuple[float, float, int]:
    """(requests/s, p99 ms, requests) from wrk; exits when a response was an error (a status
    other than 2xx or 3xx). Socket timeouts are printed: they count in the latencies."""
    wrk = shutil.which("wrk") or sys.exit("wrk not found: apt-get install wrk")
    out = subprocess.run([wrk, "-t2", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    failed = BAD_STATUS.search(out)
    if failed:
        sys.exit(f"wrk against {url}: {failed.group(0)}\n{out}")
    timeouts = SOCKET_ERRORS.search(out)
    if timeouts:
        print(f"  ({url}: socket errors {timeouts.group(1)})")
    value, unit = PERCENTILE.search(out).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return float(RATE.search(out).group(1)), p99, int(REQUESTS.search(out).group(1))  # type: ignore[union-attr]


def _script(folder: Path, name: str, paths: list[str], setup: str = "") -> Path:
    listing = folder / f"{name}.txt"
    listing.write_text("\n".join(paths) + "\n")
    script = folder / f"{name}.lua"
    script.write_text(SCRIPT % {"paths": listing, "setup": setup})
    return script


def _journal(root: Path) -> tuple[list[str], list[str]]:
    """A sent issue's journal (every subscriber delivered an hour ago) and its link table;
    returns the click paths and the one-click unsubscribe paths."""
    ws = load_workspace(root)
    db = open_database(ws)
    add_subscribers(db, SUBSCRIBERS)
    with db.session() as session:
        journal.freeze(session, ISSUE, "tag:technology", segment_filter(session, "tag:technology"))
        tracked.remember_links(session, ws, ISSUE)
        session.execute(update(Delivery).values(state=State.SENT.value, sent_at=utcnow() - timedelta(hours=1)))
    with db.reader() as session:
        deliveries = session.execute(select(Delivery.id, Delivery.subscriber_id)).all()
    db.dispose()
    signer = signer_for(ws)
    links = [link.id for link in read_links(root / "issues" / ISSUE / "build")]
    delivery = delivery_tokens(signer, ISSUE)
    clicks = [f"/c/{delivery(key)}/{links[n % len(links)]}" for n, (key, _) in enumerate(deliveries)]
    unsubscribes = [f"/u/{signer.make(UNSUBSCRIBE, subscriber, ISSUE)}" for _, subscriber in deliveries]
    return clicks, unsubscribes


def main(args: list[str]) -> None:
    seconds = int(args[0]) if args else 10
    concurrency = int(args[1]) if len(args) > 1 else 64
    env = {**os.environ, "GBALETTER_SECRET": SECRET}
    os.environ["GBALETTER_SECRET"] = SECRET
    if args[2:3] == ["send"]:
        return web_send.main(seconds, concurrency, env)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "ws").mkdir()
        root = copy_workspace(folder / "ws")
        port, reference_port = _free_port(), _free_port()
        config = root / "gbaletter.toml"
        config.write_text(config.read_text().replace('base_url = "https://gba.example.org/newsletter"',
                                                     f'base_url = "http://127.0.0.1:{port}"'))
        subprocess.run([sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "build", ISSUE],
                       check=True, capture_output=True, env=env)
        clicks, unsubscribes = _journal(root)
        click_script = _script(folder, "clicks", clicks)
        post_script = _script(folder, "posts", unsubscribes, POST_SETUP)
        print(f"web: {SUBSCRIBERS:,} deliveries, wrk -t2 -c{concurrency} -d{seconds}s per case "
              f"(load average {load:.1f} before)")
        reference = subprocess.Popen([sys.executable, "-m", "bench.reference_app", str(reference_port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        server = subprocess.Popen([sys.executable, "-m", "gbaletter", "--root", str(root), "serve",
                                   "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True, env=env)
        try:
            _wait_listening(reference_port, reference)
            _wait_listening(port, server)
            ref_click = _wrk(f"http://127.0.0.1:{reference_port}", click_script, seconds, concurrency)
            our_click = _wrk(f"http://127.0.0.1:{port}", click_script, seconds, concurrency)
            report("bare Starlette 302 (reference)", ref_click[0], "req/s")
            report("click redirect", our_click[0], "req/s", ref_click[0], ">= 2000 req/s")
            report("bare Starlette 302, p99 (reference)", ref_click[1], "ms")
            report("click redirect, p99", our_click[1], "ms", ref_click[1], "<= 50 ms")
            ref_post = _wrk(f"http://127.0.0.1:{reference_port}", post_script, seconds, concurrency)
            our_post = _wrk(f"http://127.0.0.1:{port}", post_script, seconds, concurrency)
            report("bare Starlette form POST (reference)", ref_post[0], "req/s")
            report("one-click unsubscribe POST", our_post[0], "req/s", ref_post[0], ">= 1000 req/s")
            report("bare Starlette form POST, p99 (reference)", ref_post[1], "ms")
            report("one-click unsubscribe POST, p99", our_post[1], "ms", ref_post[1])
        finally:
            reference.terminate()
            server.send_signal(signal.SIGINT)  # a clean shutdown: the recorder commits what it holds
            server.communicate(timeout=60)
            reference.wait()
        db = open_database(load_workspace(root))
        with db.reader() as session:
            recorded = session.scalar(select(func.count()).select_from(TrackingEvent)) or 0
        db.dispose()
        report("clicks recorded / clicks answered", recorded / our_click[2] * 100, "%", None, "100 %")
    web_send.main(seconds, concurrency, env)


if __name__ == "__main__":
    main(sys.argv[1:])
