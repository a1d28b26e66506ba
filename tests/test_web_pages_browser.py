"""The pages readers see, in headless Chromium over real HTTP: every page of `serve` (the form and
its answer, the form to embed in another site's page, confirm, unsubscribe and the pages after its
buttons, the preference page with a notice and with an error, an address change, the archive and
an issue in it, a forged link, a page not found) in English, Traditional and Simplified Chinese,
light and dark, on a phone (375 px) and a desk (800 px). On each: the colours Chromium computes
keep 4.5:1 (3:1 for large text) and, in the dark scheme, light text on a dark ground (a button's
own may be dark on light); nothing is wider than the screen; buttons and the labels of boxes to
tick are 44 px tall at least; fields' text is 16 px at least (iOS zooms into smaller); the focus
ring keeps 3:1 against the page.

One desk (tests/data/editions, trilingual, with issue 2019-W27 sent through aiosmtpd), one
server and one browser for the whole matrix: 180 pages in one test of about a minute.
"""

from __future__ import annotations

import shutil
from itertools import product

import pytest

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.issue.browser import chromium
from gbaletter.links import UNSUBSCRIBE, preferences_token, signer_for
from gbaletter.subscribers.service import find_subscriber
from gbaletter.web import preferences
from gbaletter.web.app import create_app
from gbaletter.web.subscription import SignUp, request_sign_up
from support.page_checks import problems as page_problems
from support.signups import lift_caps
from support.smtp_server import free_port
from support.web_server import serving
from support.workspace import DATA

ISSUE = "2019-W27"
PHONE, DESK = 375, 800
# page language -> (the browser's Accept-Language, a reader of the list who reads it)
LANGUAGES = {"en": ("en-GB", "ho.sally@example.com"), "zh-Hant": ("zh-HK", "chan.tai.man@example.com"),
             "zh-Hans": ("zh-CN", "zhang.wei@example.com")}
TOPICS = """
[topics]
transport = { en = "Transport", zh-Hant = "交通", zh-Hans = "交通" }
policy = { en = "Policy", zh-Hant = "政策", zh-Hans = "政策" }
finance = { en = "Finance and markets", zh-Hant = "財經", zh-Hans = "财经" }
"""
@pytest.fixture
def served_desk(tmp_path, run_cli, mail_env):  # type: ignore[no-untyped-def]
    """The trilingual desk with its topics, 2019-W27 sent, served on 127.0.0.1; yields the base
    URL and, per page language, the personal pages' paths of one reader."""
    desk = tmp_path / "desk"
    shutil.copytree(DATA / "editions", desk)
    (desk / "gbaletter.toml").write_text((desk / "gbaletter.toml").read_text() + TOPICS)
    lift_caps(desk)
    members = shutil.copy(DATA / "editions_members.csv", tmp_path / "members.csv")
    assert run_cli(desk, "subscribers", "import", str(members)).output.startswith("added       7\n")
    assert run_cli(desk, "issue", "build", ISSUE).exit_code == 0
    sent = run_cli(desk, "issue", "send", ISSUE, "--segment", "language in (en, zh-Hant, zh-Hans)")
    assert sent.exit_code == 0, sent.stderr
    ws = load_workspace(desk)
    db = open_database(ws)
    signer = signer_for(ws)
    personal = {}
    with db.session() as session:
        for language, (_, email) in LANGUAGES.items():
            reader = find_subscriber(session, email)
            pending = request_sign_up(session, signer, SignUp(f"new.{email}", "", (), language))
            change = preferences.request_address_change(session, signer, reader, f"moved.{email}")
            personal[language] = {
                "confirm": f"/confirm/{pending.token}",
                "unsubscribe": f"/u/{signer.make(UNSUBSCRIBE, reader.id, ISSUE)}",
                "preferences": f"/p/{preferences_token(signer, reader.id, reader.email)}",
                "address": f"/address/{change.token}"}
    with serving(create_app(ws, db), free_port()) as url:
        yield url, personal
    db.dispose()


def _pages(page, base: str, language: str, paths: dict[str, str]):
    """Each page a reader can reach, opened by its link or by the button that leads to it; yields
    its name once it is shown."""
    issue = f"/archive/{ISSUE}" + ("" if language == "en" else f"/{language}")
    for name, path in (("subscribe", "/subscribe"), ("embed", "/embed"), ("archive", "/archive"), ("issue", issue),
                       ("not found", "/archive/1999-W01"), ("forged link", "/u/forged.token"),
                       *paths.items()):
        page.goto(base + path)
        yield name
    page.goto(base + paths["preferences"])
    page.locator("button[value=topics]").click()
    page.locator(".notice").wait_for()
    yield "topics saved"
    page.fill("#email", "wong.peter@example.com")  # on the list already: refused
    page.locator("button[value=address]").click()
    page.locator(".error").wait_for()
    yield "address refused"
    page.goto(base + paths["unsubscribe"])
    page.locator("form button").first.click()
    page.locator("form[action*='resubscribe/']").wait_for()
    yield "unsubscribed"
    page.locator("form button").first.click()
    page.wait_for_url("**/resubscribe/**")
    yield "resubscribed"
    page.goto(base + "/subscribe")
    page.fill("#email", "someone.new@example.net")
    page.locator("[data-altcha-status]").filter(has_text=page.get_attribute("form", "data-altcha-done")).wait_for()
    page.locator("form button[type=submit]").click()
    page.locator("main strong", has_text="someone.new@example.net").wait_for()
    yield "sign-up sent"


@pytest.mark.usefixtures("chromium")
def test_every_reader_page_in_both_schemes_on_a_phone_and_a_desk(served_desk):
    base, personal = served_desk
    problems: list[str] = []
    seen = set()
    with chromium() as browser:
        for (language, (accept, _)), scheme, width in product(LANGUAGES.items(), ("light", "dark"), (PHONE, DESK)):
            context = browser.new_context(viewport={"width": width, "height": 800}, color_scheme=scheme,
                                          locale=accept)
            page = context.new_page()
            page.set_default_timeout(15_000)
            for name in _pages(page, base, language, personal[language]):
                assert page.locator("html").get_attribute("lang").startswith(language), (name, language)
                problems += page_problems(page, f"{name} {language} {scheme} {width}px", width, scheme)
                seen.add(name)
            context.close()
    assert problems == [], "\n".join(problems)
    assert seen == {"subscribe", "embed", "archive", "issue", "not found", "forged link", "confirm", "unsubscribe",
                    "preferences", "address", "topics saved", "address refused", "unsubscribed", "resubscribed",
                    "sign-up sent"}

