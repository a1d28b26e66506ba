"""Deployed as docs/deploy.md says: Debian's nginx terminating TLS in front of a real `gbaletter
serve`, with the location block shipped in deploy/nginx/gbaletter.conf.

The workspace's base_url is nginx's own address (https://127.0.0.1:<port>/newsletter), so the
List-Unsubscribe URL of a message sent by `gbaletter issue send` is used exactly as it arrived.
The clients connect from 127.0.0.2, another loopback address: through nginx (127.0.0.1, the one
trusted proxy) the app must see that address as the client's; straight to the app, 127.0.0.2 is a
peer that is not one of `[web] trusted_proxies`, and its forwarded headers must not be believed.
"""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from lxml import html as lxml_html

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.subscribers.models import Status
from gbaletter.subscribers.service import add_subscriber, find_subscriber
from support.programs import require_program
from support.smtp_server import free_port
from support.tls_cert import self_signed
from support.web_server import wait_for
from support.workspace import REPO

ISSUE = "2019-W26"
READER = "reader@example.com"
SPOOFED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "X-Forwarded-For": "203.0.113.66"}


SHIPPED_LOG = "/var/log/nginx/gbaletter.access.log"


def shipped_location(app_port: int, strip_prefix: bool, access_log: Path) -> str:
    """The `location /newsletter/ {...}` block of deploy/nginx/gbaletter.conf, pointed at the test's
    server and access log; with `strip_prefix`, the variant that passes /u/... instead of
    /newsletter/u/..."""
    [block] = re.findall(r"^    location /newsletter/ \{\n.*?^    \}\n", _shipped(), re.M | re.S)
    upstream = f"http://127.0.0.1:{app_port}" + ("/" if strip_prefix else "")
    assert SHIPPED_LOG in block
    return (block.replace("proxy_pass http://127.0.0.1:8000;", f"proxy_pass {upstream};")
            .replace(SHIPPED_LOG, str(access_log)))


def shipped_log_format() -> str:
    """The file's `map` and `log_format` (http-level: the token-free access log)."""
    [found] = re.findall(r"^map .*?^log_format .*?;\n", _shipped(), re.M | re.S)
    return found


def _shipped() -> str:
    return (REPO / "deploy" / "nginx" / "gbaletter.conf").read_text(encoding="utf-8")


def nginx_conf(folder: Path, servers: str) -> str:
    """A whole nginx.conf around `servers`, everything nginx writes kept in `folder`."""
    temp = {name: folder / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    return f"""daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
{servers}
}}
"""


def test_the_shipped_file_is_valid_nginx_configuration(tmp_path):
    nginx = require_program("nginx", "nginx")
    cert, key = self_signed(tmp_path)
    shipped = (REPO / "deploy" / "nginx" / "gbaletter.conf").read_text(encoding="utf-8")
    site = (shipped.replace("/etc/letsencrypt/live/gba.example.org/fullchain.pem", str(cert))
            .replace("/etc/letsencrypt/live/gba.example.org/privkey.pem", str(key)))
    assert site != shipped
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf(tmp_path, site))
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def _answer(client: httpx.Client, url: str) -> httpx.Response | None:
    try:
        return client.get(url)
    except httpx.TransportError:
        return None


@dataclass
class Running:
    process: subprocess.Popen
    output: str = ""  # all it printed, once it has stopped


@contextmanager
def running(command: list[str], ready, **popen) -> Iterator[Running]:
    """`command` running until the block ends (stopped with SIGINT, as Ctrl-C), once `ready()`."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)
    run = Running(process)
    try:
        wait_for(lambda: process.poll() is not None or ready(), timeout=30)
        assert process.poll() is None, process.communicate()[0]
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        run.output = process.communicate(timeout=20)[0]


@pytest.mark.parametrize("strip_prefix", [False, True], ids=["path-passed-on", "prefix-stripped"])
def test_one_click_unsubscribe_through_nginx_at_the_url_of_the_sent_message(
        strip_prefix, sample_workspace, mail_env, run_cli, tmp_path):
    nginx = require_program("nginx", "nginx")
    nginx_port, app_port = free_port(), free_port()
    public = f"https://127.0.0.1:{nginx_port}"
    config = sample_workspace / "gbaletter.toml"
    config.write_text(config.read_text().replace('base_url = "https://gba.example.org/newsletter"',
                                                 f'base_url = "{public}/newsletter"')
                      + '\n[web]\ntrusted_proxies = ["127.0.0.1"]\n')
    ws = load_workspace(sample_workspace)
    db = open_database(ws)
    with db.session() as session:
        add_subscriber(session, READER, name="Rita", tags=["technology"])

    folder = tmp_path / "nginx"
    folder.mkdir()
    cert, key = self_signed(folder)
    conf = folder / "nginx.conf"
    access_log = folder / "gbaletter.access.log"
    conf.write_text(nginx_conf(folder, f"""{shipped_log_format()}
    server {{
        listen 127.0.0.1:{nginx_port} ssl;
        server_name 127.0.0.1;
        ssl_certificate {cert};
        ssl_certificate_key {key};
{shipped_location(app_port, strip_prefix, access_log)}    }}"""))
    tls = ssl.create_default_context(cafile=str(cert))
    serve = [sys.executable, "-m", "gbaletter", "--root", str(sample_workspace), "serve",
             "--port", str(app_port), "--access-log"]  # to see which client the app believed
    from_outside = {"transport": httpx.HTTPTransport(verify=tls, local_address="127.0.0.2"), "timeout": 10}
    with httpx.Client(**from_outside) as client, httpx.Client(**from_outside) as outsider, \
            running(serve, lambda: _answer(client, f"http://127.0.0.1:{app_port}/healthz"),
                    env=os.environ.copy()) as app, \
            running([nginx, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf)],
                    lambda: _answer(client, f"{public}/newsletter/healthz")):
        # through nginx: the forwarded scheme and host are believed, so the app sees base_url
        health = client.get(f"{public}/newsletter/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "database": "ok", "origin": public, "origin_is_base_url": True}
        # what a client claims in its own forwarded headers, nginx replaces
        assert client.get(f"{public}/newsletter/healthz", headers={**SPOOFED, "X-Forwarded-Proto": "http"}
                          ).json()["origin"] == public
        form = client.get(f"{public}/newsletter/subscribe")
        doc = lxml_html.fromstring(form.text)
        assert doc.xpath("//link[@rel='canonical']/@href") == [f"{public}/newsletter/subscribe"]

        # straight to the app from a peer that is not a trusted proxy: its headers count for nothing
        direct = outsider.get(f"http://127.0.0.1:{app_port}/newsletter/healthz", headers=SPOOFED)
        assert direct.json()["origin"] == f"http://127.0.0.1:{app_port}"

        # an issue sent for real; its List-Unsubscribe URL, exactly as received
        assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
        sent = run_cli(sample_workspace, "issue", "send", ISSUE, "--segment", "tag:technology",
                       "--ignore-check")  # the check rightly calls 127.0.0.1 links an error
        assert sent.exit_code == 0, sent.stderr
        [message] = [r.message for r in mail_env.received if r.rcpt == READER]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = re.fullmatch(r"<(https://[^>]+)>.*", message["List-Unsubscribe"], re.S).group(1)
        assert url.startswith(f"{public}/newsletter/u/")
        # a story link, clicked: one redirect, through nginx
        html = message.get_body(("html",)).get_content()
        click = re.search(rf'href="({re.escape(public)}/newsletter/c/[^"/]+/(\w+))"', html)
        assert click and client.get(click.group(1)).status_code == 302
        response = client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200 and "You are unsubscribed" in response.text

    with db.reader() as session:
        reader = find_subscriber(session, READER)
        assert reader.status is Status.UNSUBSCRIBED
        assert [e.actor for e in reader.events] == ["web:one-click"]
    db.dispose()
    # uvicorn's access log: the client nginx forwarded (port 0: a forwarded address has none), the
    # outsider as it connected, and never the address a client claimed for itself
    path = "/u/" if strip_prefix else "/newsletter/u/"
    assert re.search(rf'127\.0\.0\.2:0 - "POST {path}\S+ HTTP/1\.1" 200', app.output), app.output
    assert re.search(r'127\.0\.0\.2:[1-9]\d* - "GET /newsletter/healthz HTTP/1\.1" 200', app.output)
    assert SPOOFED["X-Forwarded-For"] not in app.output
    # nginx's own log of the site: the paths without the signed tokens
    token = url.rsplit("/", 1)[1]
    logged = access_log.read_text(encoding="utf-8")
    assert '"POST /newsletter/u/- HTTP/1.1" 200' in logged and '"GET /newsletter/healthz HTTP/1.1" 200' in logged
    assert f'"GET /newsletter/c/-/{click.group(2)} HTTP/1.1" 302' in logged
    assert token not in logged and click.group(1).split("/")[-2] not in logged, logged
