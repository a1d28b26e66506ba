"""In headless Chromium: a reader opens the Preferences link of an issue they received, changes
their topics, pauses, downloads their data and erases themself. Each step is checked in the
database and in what the next send delivers, by the real `gbaletter issue send` (in a
subprocess: Playwright's sync API keeps an event loop running in this thread).
"""

from __future__ import annotations

import json

import pytest
from lxml import html as lxml_html

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.issue.browser import chromium
from gbaletter.subscribers.service import add_subscriber, find_subscriber, is_suppressed
from gbaletter.web.app import create_app
from support.signups import lift_caps
from support.smtp_server import free_port
from support.web_server import serving, wait_for

READER = "reader@example.com"
ISSUES = ("2019-W26", "2019-W27", "2019-W28")


def html_links(message) -> dict[str, str]:
    doc = lxml_html.fromstring(message.get_body(("html",)).get_content())
    return {" ".join(a.text_content().split()): a.get("href") for a in doc.xpath("//a[@href]")}


@pytest.mark.usefixtures("chromium")
def test_a_reader_manages_their_subscription_from_the_preferences_link(sample_workspace, mail_env,
                                                                       run_process):
    port = free_port()
    base = f"http://127.0.0.1:{port}/newsletter"
    config = sample_workspace / "gbaletter.toml"
    config.write_text(config.read_text().replace('base_url = "https://gba.example.org/newsletter"',
                                                 f'base_url = "{base}"'))
    lift_caps(sample_workspace)
    manifest = (sample_workspace / "issues" / ISSUES[0] / "issue.yaml").read_text()
    for number, issue in enumerate(ISSUES[1:], start=2):  # the next weeks' issues, for the next sends
        (sample_workspace / "issues" / issue).mkdir()
        (sample_workspace / "issues" / issue / "issue.yaml").write_text(
            manifest.replace(ISSUES[0], issue).replace("number: 1", f"number: {number}"))
    for issue in ISSUES:
        built = run_process(sample_workspace, "issue", "build", issue)
        assert built.returncode == 0, built.stderr
    ws = load_workspace(sample_workspace)
    db = open_database(ws)
    with db.session() as session:
        add_subscriber(session, READER, name="Rita", tags=["technology", "vip"])
        add_subscriber(session, "finance.desk@example.org", tags=["finance"])

    def reader():
        with db.reader() as session:
            subscriber = find_subscriber(session, READER)
            _ = (subscriber.tags, subscriber.events) if subscriber else None
            return subscriber

    def send(issue, segment):
        before = len(mail_env.received)
        sent = run_process(sample_workspace, "issue", "send", issue, "--segment", segment, "--ignore-check")
        assert sent.returncode == 0, sent.stderr
        return {r.rcpt for r in wait_for(lambda: mail_env.received[before:])}

    assert READER in send(ISSUES[0], "tag:technology")
    [issue] = [r.message for r in mail_env.received if r.rcpt == READER]
    links = html_links(issue)
    preferences = links["Preferences"]
    assert preferences.startswith(f"{base}/p/") and preferences in issue.get_body(("plain",)).get_content()

    with serving(create_app(ws, db), port), chromium() as browser:
        page = browser.new_page(viewport={"width": 375, "height": 740}, accept_downloads=True)
        page.set_default_timeout(15_000)

        # 1. the link opens the page; opening it changes nothing
        page.goto(preferences)
        assert page.get_by_role("heading").first.text_content() == "Your GBA Weekly"
        assert page.get_by_label("Technology").is_checked() and reader().events == []

        # 2. topics: technology off, finance on; the desk's own tag stays
        page.get_by_label("Technology").uncheck()
        page.get_by_label("Finance and markets").check()
        page.get_by_role("button", name="Save my topics").click()
        page.get_by_text("Your topics are saved.").wait_for()
        assert reader().tag_names == ["finance", "vip"]
        next_week = send(ISSUES[1], "tag:finance")
        assert READER in next_week and "finance.desk@example.org" in next_week

        # 3. a pause: the next send skips the reader, and only the reader
        page.get_by_role("button", name="Pause for 4 weeks").click()
        page.get_by_text("Your pause is saved").wait_for()
        assert reader().paused_until is not None
        assert send(ISSUES[2], "tag:finance") == {"finance.desk@example.org"}

        # 4. download my data: what the list holds, the two issues sent included
        with page.expect_download() as download:
            page.get_by_role("button", name="Download my data").click()
        mine = json.loads(open(download.value.path(), encoding="utf-8").read())
        assert mine["profile"]["email"] == READER and mine["profile"]["tags"] == ["finance", "vip"]
        assert [d["issue"] for d in mine["deliveries"]] == list(ISSUES[:2])
        assert mine["profile"]["paused_until"] and len(mine["history"]) == 2

        # 5. erase me: a second button first; then only the suppression hash stays
        page.get_by_role("button", name="Erase me").click()
        assert page.get_by_role("heading").first.text_content() == "Erase everything about you?"
        assert reader() is not None
        page.get_by_role("button", name="Yes, erase me").click()
        assert page.get_by_role("heading").first.text_content() == "You are erased"
        assert reader() is None
        with db.reader() as session:
            assert is_suppressed(session, READER)
        page.goto(preferences)  # the link is dead now
        assert page.get_by_role("heading").first.text_content() == "This link does not work"
    db.dispose()
