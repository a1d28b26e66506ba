"""End to end in headless Chromium: subscribe through the form, confirm by the emailed link and the
button on its page, get the sample issue, unsubscribe by its link; the database is checked after
each step.

The issue is sent by the real `gbaletter issue send` in a subprocess (Playwright's sync API keeps
an event loop running in this thread, so the command cannot run in-process meanwhile).
"""

from __future__ import annotations

import pytest
from lxml import html as lxml_html
from sqlalchemy import select

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.delivery.models import Delivery
from gbaletter.issue.browser import chromium
from gbaletter.subscribers.models import Status
from gbaletter.subscribers.service import find_subscriber
from gbaletter.web.app import create_app
from support.smtp_server import free_port
from support.web_server import serving, wait_for

ISSUE = "2019-W26"
READER = "reader@example.com"


def html_links(message) -> dict[str, str]:
    """Link text -> href of a received message's HTML part."""
    doc = lxml_html.fromstring(message.get_body(("html",)).get_content())
    return {" ".join(a.text_content().split()): a.get("href") for a in doc.xpath("//a[@href]")}


@pytest.mark.usefixtures("chromium")
def test_subscribe_confirm_receive_and_unsubscribe_in_a_browser(sample_workspace, mail_env, run_process):
    port = free_port()
    base = f"http://127.0.0.1:{port}/newsletter"  # served at base_url's path, as deployed
    config = sample_workspace / "gbaletter.toml"
    config.write_text(config.read_text().replace('base_url = "https://gba.example.org/newsletter"',
                                                 f'base_url = "{base}"'))
    ws = load_workspace(sample_workspace)
    db = open_database(ws)

    def reader():
        with db.reader() as session:
            subscriber = find_subscriber(session, READER)
            _ = (subscriber.tags, subscriber.events) if subscriber else None
            return subscriber

    built = run_process(sample_workspace, "issue", "build", ISSUE)
    assert built.returncode == 0, built.stderr
    with serving(create_app(ws, db), port), chromium() as browser:
        page = browser.new_page(viewport={"width": 375, "height": 740})  # a phone
        page.set_default_timeout(15_000)

        # 1. the form: an unconfirmed subscriber with the topics ticked
        page.goto(f"{base}/subscribe")
        page.get_by_label("Email address").fill(READER)
        page.get_by_label("Name").fill("Rita Reader")
        # the proof-of-work: our script fetched a challenge and solved it with WebCrypto
        page.get_by_text("Ready to send.").wait_for()
        assert page.locator("input[name=altcha]").input_value()
        for topic in ("Finance and markets", "Policy", "Transport"):
            page.get_by_label(topic, exact=True).uncheck()
        page.get_by_role("button", name="Subscribe").click()
        assert page.get_by_role("heading").first.text_content() == "Check your inbox"
        assert reader().status is Status.UNCONFIRMED and reader().tag_names == ["technology"]

        # 2. the confirmation email's link
        [confirmation] = wait_for(lambda: [r.message for r in mail_env.received if r.rcpt == READER])
        confirm = html_links(confirmation)["Confirm my subscription"]
        assert confirm.startswith(f"{base}/confirm/")
        page.goto(confirm)  # opening the link, as a mail scanner would, changes nothing
        assert page.get_by_role("heading").first.text_content() == "Confirm your subscription to GBA Weekly"
        assert reader().status is Status.UNCONFIRMED
        page.get_by_role("button", name="Confirm my subscription").click()
        assert page.get_by_role("heading").first.text_content() == "You are subscribed"
        assert page.url == confirm  # no redirect: the answer to the POST is the page
        assert reader().status is Status.ACTIVE
        assert [e.actor for e in reader().events] == ["web:confirm-button"]

        # 3. the issue, sent by the real command
        # --ignore-check: the check rightly calls 127.0.0.1 links an error; here they are the point
        sent = run_process(sample_workspace, "issue", "send", ISSUE, "--segment", "tag:technology",
                           "--ignore-check")
        assert sent.returncode == 0, sent.stderr
        with db.reader() as session:
            state = session.scalar(select(Delivery.state).where(Delivery.issue_id == ISSUE,
                                                                Delivery.subscriber_id == reader().id))
        assert state == "sent"
        issue = wait_for(lambda: [r.message for r in mail_env.received if r.rcpt == READER][1:])[0]
        links = html_links(issue)
        unsubscribe = links["Unsubscribe"]
        assert unsubscribe.startswith(f"{base}/u/") and issue["List-Unsubscribe"].startswith(f"<{unsubscribe}>")

        # 4. the web version the issue links to
        page.goto(links["View in browser"])
        assert "Hi reader," in page.content() and "Rita" not in page.content()

        # 5. the unsubscribe link: a page with a button; only the button unsubscribes
        page.goto(unsubscribe)
        assert page.get_by_role("heading").first.text_content() == "Unsubscribe from GBA Weekly?"
        assert reader().status is Status.ACTIVE
        page.get_by_role("button", name="Unsubscribe").click()
        assert page.get_by_role("heading").first.text_content() == "You are unsubscribed"
        assert page.get_by_role("button", name="Resubscribe").is_visible()
        assert reader().status is Status.UNSUBSCRIBED
        last = reader().events[-1]
        assert (last.actor, last.reason) == ("web:unsubscribe-page", f"unsubscribe page of issue {ISSUE}")
    db.dispose()
