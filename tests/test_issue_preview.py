"""`gbaletter issue preview`: a real HTTP server on 127.0.0.1 that shows the issue at two widths
with its text part, rebuilds when a post or template changes, and shows build errors."""

import re
import os
import select
import subprocess
import sys
import threading

import httpx
import pytest

from support.workspace import write
from gbaletter.config import load_workspace
from gbaletter.errors import GbaletterError
from gbaletter.issue.browser import chromium, email_page
from gbaletter.issue.preview import open_preview

ISSUE = "2019-W26"
POST = "posts/2019-06-27-macau-light-rail.md"


@pytest.fixture
def served(sample_workspace):
    """The preview of the sample issue, serving from a thread on a free port."""
    events: list[str] = []
    server = open_preview(load_workspace(sample_workspace), ISSUE, port=0, on_event=events.append)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield sample_workspace, client, events
    server.shutdown()
    server.server_close()


def test_page_shows_both_widths_and_the_text_part(served):
    _root, client, events = served
    assert client.base_url.host == "127.0.0.1"
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    for width in (800, 375):
        assert f'src="/email.html" width="{width}"' in page.text
        assert f'src="/email-dark.html" width="{width}"' in page.text
    assert "Hi Sam Reader," in page.text  # the text part, with sample values
    assert "issue 2019-W26: no problems found" in page.text
    # built once, on start (the size changes with the templates)
    assert len(events) == 1 and re.fullmatch(r"rebuilt issue 2019-W26 \(\d+\.\d KB\)", events[0])
    email = client.get("/email.html")
    assert email.headers["content-security-policy"] == "script-src 'none'"
    assert "Hi Sam Reader," in email.text and "{{" not in email.text
    assert "https://example.org/preview/unsubscribe" in email.text
    assert client.get("/email.txt").text.startswith("GBA Weekly - Issue 1, 30 June 2019")
    dark = client.get("/email-dark.html")  # the dark rules apply whatever the viewer's scheme
    assert dark.headers["content-security-policy"] == "script-src 'none'"
    assert "@media all {" in dark.text and "prefers-color-scheme" not in dark.text
    assert client.get("/nothing-here").status_code == 404
    # the build's resized images, served by the preview itself (base_url may not serve them yet)
    [src] = [s for s in re.findall(r'<img[^>]* src="([^"]+)"', email.text) if s.startswith("/images/")]
    picture = client.get(src)
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert picture.content == (_root / "issues" / ISSUE / "build" / src.lstrip("/")).read_bytes()
    assert client.get("/images/../gbaletter.toml").status_code == 404


@pytest.mark.usefixtures("chromium")
def test_the_dark_frame_is_dark_in_a_light_browser(served):
    _root, client, _events = served
    with chromium() as browser:
        for path, shade in (("/email.html", "rgb(238, 242, 245)"), ("/email-dark.html", "rgb(15, 20, 25)")):
            with email_page(browser, client.get(path).text, 375, "light") as page:
                assert page.evaluate("getComputedStyle(document.body).backgroundColor") == shade


def test_serves_a_rebuilt_email_after_a_post_changes(served):
    root, client, events = served
    version = client.get("/version").text
    assert client.get("/version").text == version  # nothing changed: nothing rebuilt
    post = root / POST
    post.write_text(post.read_text().replace("light rail nears the finish line", "light rail is finally running"))
    assert client.get("/version").text != version
    assert "Macau's light rail is finally running" in client.get("/email.html").text
    assert events[-1].startswith("rebuilt issue 2019-W26")


def test_build_error_is_shown_and_the_server_keeps_going(served):
    root, client, events = served
    good = client.get("/version").text
    template = write(root / "templates/email/_footer.mjml.j2", "<mj-section>\n{% if %}\n</mj-section>\n")
    page = client.get("/")
    assert page.status_code == 200 and "The issue does not build" in page.text
    assert "_footer.mjml.j2:2: template syntax error" in page.text
    assert events[-1].startswith("build failed: ")
    template.unlink()
    assert client.get("/version").text == good
    assert "The issue does not build" not in client.get("/").text


def test_unknown_issue_and_busy_port(sample_workspace, served):
    ws = load_workspace(sample_workspace)
    with pytest.raises(GbaletterError, match="no issue '2019-W99'"):
        open_preview(ws, "2019-W99", port=0)
    _, client, _ = served
    with pytest.raises(GbaletterError, match=f"port {client.base_url.port} on 127.0.0.1 is in use"):
        open_preview(ws, ISSUE, port=client.base_url.port)


def test_command_prints_the_url_and_serves(sample_workspace):
    process = subprocess.Popen([sys.executable, "-m", "gbaletter", "--root", str(sample_workspace),
                                "issue", "preview", ISSUE, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=os.environ.copy())
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "no URL printed within 30 s"
        line = process.stdout.readline()
        assert line.startswith("previewing issue 2019-W26 at http://127.0.0.1:")
        url = line.split(" at ")[1].split()[0]
        assert "GBA Weekly" in httpx.get(url + "email.html", timeout=10).text
    finally:
        process.terminate()
        process.wait(timeout=10)
