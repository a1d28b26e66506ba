"""Sign-up from the desk's own site: the WordPress snippet of docs/embedding.md served on another
origin (127.0.0.2, a page server of its own) and posted across sites in Chromium; the /embed form
in frames, allowed only from `[web] embed_origins`; `return_to` never leaves them."""

from __future__ import annotations

import functools
import http.server
import re
from pathlib import Path

import httpx
import pytest

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.issue.browser import chromium
from gbaletter.subscribers.models import Status
from gbaletter.subscribers.service import find_subscriber
from gbaletter.web.app import create_app
from gbaletter.web.embedding import allowed_return
from support.http_server import http_server
from support.signups import TEST_WEB_SETTINGS, lift_caps, post_sign_up
from support.smtp_server import free_port
from support.web_server import serving, wait_for

DOCS = Path(__file__).resolve().parent.parent / "docs" / "embedding.md"


def wordpress_snippet() -> str:
    text = DOCS.read_text(encoding="utf-8")
    return re.search(r"<!-- the wordpress snippet[^\n]*\n```html\n(.*?)```", text, re.S).group(1)


def desk_site(folder: Path, host: str):
    """A static site on `host` (another origin than the newsletter's), in a thread."""
    return http_server(functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder)), host)


@pytest.fixture
def newsletter(sample_workspace, mail_env, tmp_path):
    """The newsletter on 127.0.0.1, the desk's site on 127.0.0.2 (allowed) and a stranger's on
    127.0.0.3; yields (newsletter URL, desk, stranger, desk folder, database)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/newsletter"
    desk_folder, stranger_folder = tmp_path / "desk", tmp_path / "stranger"
    desk_folder.mkdir(), stranger_folder.mkdir()
    with desk_site(desk_folder, "127.0.0.2") as desk, desk_site(stranger_folder, "127.0.0.3") as stranger:
        config = sample_workspace / "gbaletter.toml"
        config.write_text(config.read_text().replace("https://gba.example.org/newsletter", base))
        lift_caps(sample_workspace, TEST_WEB_SETTINGS + f'embed_origins = ["{desk}"]\n')
        ws = load_workspace(sample_workspace)
        db = open_database(ws)
        with serving(create_app(ws, db), port):
            yield base, desk, stranger, desk_folder, stranger_folder, db
        db.dispose()


def status(db, email):
    with db.reader() as session:
        subscriber = find_subscriber(session, email)
        return subscriber and (subscriber.status, subscriber.tag_names)


@pytest.mark.usefixtures("chromium")
def test_the_wordpress_snippet_signs_up_across_sites_and_returns_to_the_desk(newsletter, mail_env):
    base, desk, _stranger, folder, _, db = newsletter
    snippet = wordpress_snippet().replace("https://gba.example.org/newsletter", base).replace(
        "https://desk.example.org/newsletter-thanks/", f"{desk}/thanks.html")
    (folder / "article.html").write_text(f"<!doctype html><meta charset=utf-8><title>An article</title>"
                                         f"<h1>An article</h1>{snippet}", encoding="utf-8")
    (folder / "thanks.html").write_text("<!doctype html><title>Thanks</title><h1>Thanks!</h1>")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 375, "height": 740})
        page.set_default_timeout(15_000)
        page.goto(f"{desk}/article.html")
        page.get_by_label("Email address").fill("wp.reader@example.com")
        page.get_by_label("Finance and markets").check()
        page.get_by_text("Ready to send.").wait_for()  # solved with a challenge from the newsletter
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_url(f"{desk}/thanks.html")
        assert page.get_by_role("heading").text_content() == "Thanks!"
    assert status(db, "wp.reader@example.com") == (Status.UNCONFIRMED, ["finance", "technology"])
    [message] = wait_for(lambda: [r.message for r in mail_env.received])
    assert message["To"] == "wp.reader@example.com"


@pytest.mark.usefixtures("chromium")
def test_the_embed_form_works_in_a_frame_on_the_desk_and_nowhere_else(newsletter, mail_env):
    base, desk, stranger, desk_folder, stranger_folder, db = newsletter
    frame = f'<!doctype html><title>Page</title><iframe src="{base}/embed" title="Subscribe" ' \
            f'style="width: 100%; height: 40rem; border: 0"></iframe>'
    (desk_folder / "framed.html").write_text(frame)
    (stranger_folder / "framed.html").write_text(frame)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 800, "height": 900})
        page.set_default_timeout(15_000)
        page.goto(f"{stranger}/framed.html")
        page.frames[1].wait_for_load_state()
        assert page.frames[1].query_selector("input[name=email]") is None  # refused to be framed
        page.goto(f"{desk}/framed.html")
        form = page.frame_locator("iframe")
        form.get_by_label("Email address").fill("framed@example.com")
        form.get_by_text("Ready to send.").wait_for()
        form.get_by_role("button", name="Subscribe").click()
        form.get_by_role("heading", name="Check your inbox").wait_for()  # the answer, in the frame
    assert status(db, "framed@example.com")[0] is Status.UNCONFIRMED
    wait_for(lambda: mail_env.received)


def test_frames_and_redirects_only_for_the_desks_origins(newsletter, mail_env):
    base, desk, stranger, *_, db = newsletter
    with httpx.Client(base_url=base.removesuffix("/newsletter"), timeout=10) as client:
        embed = client.get("/newsletter/embed")
        assert f"frame-ancestors {desk};" in embed.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in client.get("/newsletter/subscribe").headers["content-security-policy"]
        for bad in (f"{stranger}/thanks.html", "//evil.example/", "javascript:alert(1)",
                    f"{desk}@evil.example/", f"{desk}.evil.example/", "https://127.0.0.2/",
                    f"{desk}/\\\\evil.example", f"{desk}/x\r\nSet-Cookie: a=b"):
            refused = client.post("/newsletter/subscribe", data={"email": "nobody@example.com",
                                                                  "return_to": bad})
            assert refused.status_code == 400 and "location" not in refused.headers, bad
        back = post_sign_up(client, "back@example.com", return_to=f"{desk}/thanks.html?from=form")
        assert back.status_code == 303 and back.headers["location"] == f"{desk}/thanks.html?from=form"
    assert status(db, "nobody@example.com") is None
    assert [r.rcpt for r in wait_for(lambda: mail_env.received)] == ["back@example.com"]


def test_allowed_return_is_exact_about_the_origin():
    origins = ["https://desk.example.org"]
    assert allowed_return("https://desk.example.org/thanks/?a=1#top", origins)
    assert allowed_return("https://DESK.example.org/thanks/", origins)
    for bad in ("http://desk.example.org/", "https://desk.example.org:8443/", "https://desk.example.org.evil/",
                "https://user@desk.example.org/", "/thanks", "", "https://desk.example.org/" + "x" * 3000):
        assert not allowed_return(bad, origins), bad
    assert not allowed_return("https://desk.example.org/", [])
