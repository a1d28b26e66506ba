"""`posts import` from a URL, and bad input: one clear line per problem, no partial files."""

from __future__ import annotations

import socket
from datetime import datetime, UTC
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from support.workspace import FEED

HTML_PAGE = b"""<!DOCTYPE html>
<html><head><title>GBA Desk</title>
<link rel="alternate" type="application/rss+xml" title="Feed" href="/tag/technology/feed/">
</head><body><h1>GBA Desk</h1><p>Latest posts</p></body></html>"""
ROUTES = {
    "/tag/technology/feed/": (200, "application/rss+xml; charset=UTF-8", FEED.read_bytes()),
    "/tag/technology/": (200, "text/html; charset=UTF-8", HTML_PAGE),
    "/broken/": (500, "text/plain", b"database down"),
    "/moved/": (301, "text/html", b""),  # to the cloud's metadata address
}


class _Website(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, content_type, body = ROUTES.get(self.path, (404, "text/plain", b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if status == 301:
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def website():
    """The base URL of a small website on 127.0.0.1, serving the test feed."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Website)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def write_rss(path: Path, items: str) -> Path:
    """An RSS 2.0 file with these <item> elements."""
    path.write_text(f'<rss version="2.0"><channel><title>GBA</title>{items}</channel></rss>',
                    encoding="utf-8")
    return path


def content_files(root: Path) -> list[str]:
    """Everything in posts/ and briefs/, temporary files included."""
    return sorted(str(p.relative_to(root)) for folder in ("posts", "briefs")
                  for p in (root / folder).iterdir())


def test_a_feed_url_is_imported(workspace_dir, run_cli, website):
    result = run_cli(workspace_dir, "posts", "import", f"{website}/tag/technology/feed/")
    assert result.exit_code == 0, result.stderr
    assert result.output.splitlines()[-1] == "9 added, 0 updated, 0 unchanged"
    assert len(content_files(workspace_dir)) == 9


@pytest.mark.parametrize("path, message", [
    ("/missing/feed/", "HTTP 404 Not Found"),
    ("/broken/", "HTTP 500 Internal Server Error"),
])
def test_an_http_error_is_one_line(workspace_dir, run_cli, website, path, message):
    result = run_cli(workspace_dir, "posts", "import", f"{website}{path}")
    assert result.exit_code == 1
    assert result.error_lines == [f"error: {website}{path}: {message}"]
    assert content_files(workspace_dir) == []


def test_a_closed_port_is_one_line(workspace_dir, run_cli):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/feed/"
    result = run_cli(workspace_dir, "posts", "import", url)
    assert result.exit_code == 1
    [line] = result.error_lines
    assert line.startswith(f"error: {url}: cannot fetch: ") and "refused" in line.lower()


def test_a_redirect_into_a_link_local_network_is_refused(workspace_dir, run_cli, website):
    """Issue 23, defect 4 (the deadline and the size cap: tests/test_fetch.py)."""
    result = run_cli(workspace_dir, "posts", "import", f"{website}/moved/")
    assert result.exit_code == 1
    assert result.error_lines == [f"error: {website}/moved/: refused: 169.254.169.254 is 169.254.169.254, "
                                  "a private, loopback or link-local address (not in [fetch] allow_networks)"]
    assert content_files(workspace_dir) == []


def test_a_feed_on_a_private_address_needs_allow_networks(workspace_dir, run_cli, website):
    config = workspace_dir / "gbaletter.toml"
    config.write_text(config.read_text().replace('allow_networks = ["127.0.0.1"]', "allow_networks = []"))
    result = run_cli(workspace_dir, "posts", "import", f"{website}/tag/technology/feed/")
    assert result.exit_code == 1
    assert "a private, loopback or link-local address" in result.error_lines[0]


def test_a_web_page_is_not_a_feed_but_names_its_feed(workspace_dir, run_cli, website):
    result = run_cli(workspace_dir, "posts", "import", f"{website}/tag/technology/")
    assert result.exit_code == 1
    assert result.error_lines == [
        f"error: {website}/tag/technology/: an HTML page, not an RSS or Atom feed; "
        f"its feed is {website}/tag/technology/feed/"]


@pytest.mark.parametrize("name, data, message", [
    ("page.html", HTML_PAGE, "an HTML page, not an RSS or Atom feed; its feed is /tag/technology/feed/"),
    ("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary data, not a feed"),
    ("empty.xml", b"", "empty, not a feed"),
    ("blank.xml", b"  \n\n", "empty, not a feed"),
    ("notes.txt", b"Just some notes, no feed here.\n", "not an RSS or Atom feed (line 2, column 0: syntax error)"),
    ("truncated.xml", b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>GBA</title>',
     "malformed feed (line 2, column 46: no element found); no entries could be read"),
    ("empty-feed.xml", b'<rss version="2.0"><channel><title>GBA</title></channel></rss>',
     "the feed has no entries"),
])
def test_a_file_that_is_no_usable_feed_is_one_line(workspace_dir, run_cli, tmp_path, name, data,
                                                   message):
    source = tmp_path / name
    source.write_bytes(data)
    result = run_cli(workspace_dir, "posts", "import", str(source))
    assert result.exit_code == 1
    assert result.error_lines == [f"error: {source}: {message}"]
    assert content_files(workspace_dir) == []


def test_a_missing_file_is_one_line(workspace_dir, run_cli):
    result = run_cli(workspace_dir, "posts", "import", "gba.example.org/feed/")
    assert result.exit_code == 1
    assert result.error_lines == [
        "error: gba.example.org/feed/: no such file (a URL must start with http:// or https://)"]


def test_a_malformed_feed_still_gives_its_good_entries(workspace_dir, run_cli, tmp_path):
    source = tmp_path / "sloppy.xml"
    title = "<title>Dongguan doubles its robot subsidies"
    source.write_text(FEED.read_text(encoding="utf-8").replace(title, f"{title} & more"), encoding="utf-8")
    result = run_cli(workspace_dir, "posts", "import", str(source))
    assert result.exit_code == 0
    [warning] = result.error_lines
    assert warning.startswith(f"warning: {source}: malformed feed (line ")
    assert warning.endswith("not well-formed (invalid token)); importing the 9 entries that could be read")
    assert result.output.splitlines()[-1] == "9 added, 0 updated, 0 unchanged"


def test_when_no_entry_can_be_imported_every_reason_is_given(workspace_dir, run_cli, tmp_path):
    source = write_rss(tmp_path / "undated.xml",
                       "<item><title>First</title><link>https://gba.example.org/first/</link></item>"
                       "<item><link>https://gba.example.org/second/</link>"
                       "<pubDate>Tue, 25 Jun 2019 18:00:00 +0800</pubDate></item>")
    result = run_cli(workspace_dir, "posts", "import", str(source))
    assert result.exit_code == 1
    assert result.error_lines == [
        'error: entry 1 "First": no date (neither published nor updated)',
        "error: entry 2 (https://gba.example.org/second/): no title",
        f"error: {source}: nothing could be imported",
    ]
    assert content_files(workspace_dir) == []


def test_a_digest_without_lead_ins_is_skipped_not_guessed(workspace_dir, run_cli, tmp_path):
    source = write_rss(tmp_path / "digest.xml",
                       "<item><title>GBA Briefs: 1/7/2019</title><link>https://gba.example.org/briefs-1-7/</link>"
                       "<pubDate>Mon, 01 Jul 2019 18:00:00 +0800</pubDate>"
                       "<description><![CDATA[<p>Nothing here opens with a lead-in.</p>]]></description></item>")
    result = run_cli(workspace_dir, "posts", "import", str(source))
    assert result.exit_code == 1
    assert result.error_lines[0] == (
        'error: entry 1 "GBA Briefs: 1/7/2019": a briefs digest, but no paragraph opens with a '
        "lead-in (<strong>Lead:</strong> text)")


def test_a_folder_that_cannot_be_written_leaves_no_partial_files(workspace_dir, run_cli, read_only):
    read_only(workspace_dir / "posts")
    result = run_cli(workspace_dir, "posts", "import", str(FEED))
    assert result.exit_code == 1
    [line] = result.error_lines
    assert line.startswith("error: cannot write ") and "2019-10-14-bay-area-lenders" in line
    assert content_files(workspace_dir) == []


def test_an_entry_dated_before_1904_is_written_so_that_it_reads_back(workspace_dir, run_cli, tmp_path):
    """Hong Kong's offset before 1904 was +07:36:42, which YAML cannot hold (issue 23 #3)."""
    source = write_rss(tmp_path / "old.xml",
                       "<item><title>維多利亞港 1900</title><category>technology</category><link>https://gba.example.org/harbour-1900/</link>"
                       "<guid>harbour-1900</guid><pubDate>Mon, 01 Jan 1900 08:00:00 +0000</pubDate>"
                       "<description>The harbour in 1900.</description></item>")
    assert run_cli(workspace_dir, "posts", "import", str(source)).exit_code == 0
    post = workspace_dir / "posts" / "1900-01-01-harbour-1900.md"
    meta = yaml.safe_load(post.read_text(encoding="utf-8").split("---")[1])
    assert meta["date"] == datetime(1900, 1, 1, 8, tzinfo=UTC)
    assert run_cli(workspace_dir, "posts", "import", str(source)).output.endswith(
        "0 added, 0 updated, 1 unchanged\n")
    listed = run_cli(workspace_dir, "posts", "list", "--week", "1900-W01")
    assert listed.exit_code == 0 and "1900-01-01  1900-01-01-harbour-1900" in listed.output
    # what earlier versions wrote still reads
    post.write_text(post.read_text(encoding="utf-8").replace(
        "1900-01-01 08:00:00+00:00", "!!timestamp '1900-01-01 15:36:42+07:36:42'"), encoding="utf-8")
    listed = run_cli(workspace_dir, "posts", "list", "--week", "1900-W01")
    assert listed.exit_code == 0 and "1900-01-01-harbour-1900" in listed.output
    assert run_cli(workspace_dir, "issue", "new", "--week", "1900-W01").exit_code == 0
