"""`gbaletter issue report` and `gbaletter report` after a real send and real clicks over HTTP:
the numbers equal the database's, and report.html holds up in headless Chromium at 375 px."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from lxml import html as lxml_html
from sqlalchemy import func, select

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.delivery.effects import Cause
from gbaletter.delivery.models import Delivery
from gbaletter.issue.browser import chromium
from gbaletter.links import signer_for
from gbaletter.report.feedback import unsubscribes
from gbaletter.subscribers.models import Subscriber
from gbaletter.subscribers.service import add_subscriber
from gbaletter.tracking.models import TrackingEvent
from gbaletter.web.subscription import UnsubscribeLink, unsubscribe_many
from support.bounces import BOUNCES_CONFIG, corpus, deliver, make_maildir
from support.bounces import SentIssue as Journal
from support.workspace import TEST_SECRET
from support.tracking import BROWSER, ISSUE, gbaletter_serve, html_hrefs, send_tracked, set_sent_at

READERS = {f"reader{n}@example.com": f"Reader {n}" for n in range(6)}


@pytest.fixture
def reported(sample_workspace, mail_env, run_cli):
    """Six readers: two people click, one scanner clicks everything, two unsubscribe (one-click and
    the page), and by mail one bounces later, one complains and one unsubscribes; then `issue
    report` runs."""
    sent = send_tracked(sample_workspace, mail_env, run_cli, READERS, 'clicks = "on"')
    for address in READERS:
        set_sent_at(sent.db, address, timedelta(hours=2))
    with gbaletter_serve(sent.root, sent.port), httpx.Client(timeout=10) as http:
        def click(href):
            assert http.get(href, headers={"user-agent": BROWSER}).status_code == 302

        first, second = sent.tracked_links("reader0@example.com"), sent.tracked_links("reader1@example.com")
        click(first[0])
        time.sleep(0.5)
        click(first[-1])          # a brief
        click(second[0])          # the same featured story, another person
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(click, sent.tracked_links("reader2@example.com")))
        unsubscribe = next(h for h in html_hrefs(sent.message_to("reader3@example.com")) if "/u/" in h)
        assert http.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200
        unsubscribe = next(h for h in html_hrefs(sent.message_to("reader4@example.com")) if "/u/" in h)
        assert http.post(unsubscribe, data={"unsubscribe": "yes"}).status_code == 200
    # what comes back later, by mail, read by the real `bounces process` from a Maildir
    with sent.db.reader() as session:
        rows = dict(session.execute(select(Subscriber.email, Delivery.id).join(
            Delivery, Delivery.subscriber_id == Subscriber.id).where(Delivery.issue_id == ISSUE)).all())
    config = sent.root / "gbaletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + BOUNCES_CONFIG, encoding="utf-8")
    returned = Journal(load_workspace(sent.root), ISSUE, rows)
    maildir = make_maildir(sent.root / "bounces")
    deliver(maildir, "arf", corpus("arf-complaint.eml", verp=returned.verp("reader5@example.com"),
                                   rcpt="reader5@example.com"))
    deliver(maildir, "dsn", corpus("dsn-hard-user-unknown.eml", verp=returned.verp("reader2@example.com"),
                                   rcpt="reader2@example.com"))
    deliver(maildir, "mailto", corpus("unsubscribe-mailto.eml", rcpt="reader1@example.com",
                                      verp=returned.unsubscribe_address(sent.db, "reader1@example.com")))
    processed = run_cli(sent.root, "bounces", "process")
    assert processed.exit_code == 0, processed.stderr
    result = run_cli(sent.root, "issue", "report", ISSUE)
    assert result.exit_code == 0, result.stderr
    yield sent, result.output
    sent.db.dispose()


def _number(doc, element_id: str) -> int:
    return int(doc.get_element_by_id(element_id).text_content().split()[0])


def test_the_report_shows_what_the_database_holds(reported):
    sent, output = reported
    doc = lxml_html.fromstring((sent.root / "issues" / ISSUE / "report.html").read_text())
    with sent.db.reader() as session:
        journal = dict(session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
        stored_clicks = session.scalar(select(func.count()).select_from(TrackingEvent))
    scanner_clicks = len(sent.tracked_links("reader2@example.com"))
    assert _number(doc, "recipients") == sum(journal.values()) == len(READERS)
    assert _number(doc, "sent") == journal["sent"] == len(READERS)
    assert _number(doc, "bounced-smtp") == journal.get("bounced", 0) == 0
    assert _number(doc, "bounced-later") == 1 and _number(doc, "complaints") == 1
    assert _number(doc, "unsubscribed-one-click") == 1 and _number(doc, "unsubscribed-page") == 1
    assert _number(doc, "unsubscribed-mailto") == 1
    assert _number(doc, "human-clicks") == 3 and _number(doc, "machine-clicks") == scanner_clicks
    assert _number(doc, "human-clicks") + _number(doc, "machine-clicks") == stored_clicks
    assert _number(doc, "unique-humans") == 2
    # the featured story clicked by both people comes first, with a rate of 2 in 6
    first_story = doc.xpath("//table[@id='stories']/tbody/tr[1]/td/text()")
    assert first_story[0] == "featured" and first_story[2:4] == ["2", "33.3 %"]  # the email's first story
    per_link = {tr.get("data-link"): [int(td.text) for td in tr.xpath("td[@class='n']")]
                for tr in doc.xpath("//table[@id='links']/tbody/tr")}
    assert sum(people for people, _, _ in per_link.values()) == 3
    assert sum(machines for _, _, machines in per_link.values()) == scanner_clicks
    assert len(doc.xpath("//svg[@class='chart wide']")) == 2 and not doc.xpath("//script")
    assert "people who clicked" in output and "2 (33.3 %)" in output
    # one edition: no breakdown by edition
    assert "by edition" not in output and not doc.xpath("//table[@id='editions'] | //td[@data-edition]")
    legends = doc.xpath("//*[@id='legend']//*[local-name()='text']/text()")
    assert "people (unique)" in legends and not [text for text in legends if text.startswith("people, ")]


def test_the_report_across_issues_flags_the_complaint_threshold(reported, run_cli):
    sent, _ = reported
    result = run_cli(sent.root, "report")
    assert result.exit_code == 0, result.stderr
    assert "over 0.3 %" in result.output  # 1 complaint in 6 messages
    doc = lxml_html.fromstring((sent.root / "issues" / "report.html").read_text())
    [row] = doc.xpath("//table[@id='issues']/tbody/tr")
    assert row.get("data-issue") == ISSUE and row.xpath("td[contains(@class, 'flag')]")
    svg = doc.xpath("//svg[@class='chart wide']")
    assert len(svg) == 2 and "Gmail complaint threshold" in lxml_html.tostring(svg[1], encoding=str)


@pytest.mark.usefixtures("chromium")
def test_report_page_fits_a_phone_with_its_charts(reported, tmp_path):
    sent, _ = reported
    page_file = sent.root / "issues" / ISSUE / "report.html"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 375, "height": 800}, java_script_enabled=True)
        page.goto(page_file.as_uri())
        measure = page.evaluate("""() => ({
            width: document.documentElement.scrollWidth, limit: document.documentElement.clientWidth,
            charts: [...document.querySelectorAll('svg.chart.narrow')].map(s => s.getBoundingClientRect().width)})""")
        page.screenshot(path=str(tmp_path / "report-375.png"), full_page=True)
    assert measure["width"] <= measure["limit"] == 375
    assert len(measure["charts"]) == 2 and all(0 < width <= 375 for width in measure["charts"])
    assert (tmp_path / "report-375.png").stat().st_size > 10_000


def test_unsubscribes_count_per_issue_from_the_events_issue_not_their_reason(workspace, monkeypatch):
    """Issue `special` does not count the unsubscribes from `special-2` (whose reason contains
    "special"): the events carry the issue they are about."""
    monkeypatch.setenv("GBALETTER_SECRET", TEST_SECRET)
    db = open_database(workspace)
    signer = signer_for(workspace)
    with db.session() as session:
        ids = [add_subscriber(session, f"reader{n}@example.com").id for n in range(3)]
    with db.session() as session:
        unsubscribe_many(session, signer, [
            (UnsubscribeLink(ids[0], "special-2"), Cause.ONE_CLICK, "one-click unsubscribe from issue special-2"),
            (UnsubscribeLink(ids[1], "special-2"), Cause.UNSUBSCRIBE_PAGE, "unsubscribe page of issue special-2"),
            (UnsubscribeLink(ids[2], "special"), Cause.UNSUBSCRIBE_PAGE, "unsubscribe page of issue special")])
    with db.reader() as session:
        # no journal rows here: the edition is unknown ("-")
        assert unsubscribes(session, "special") == {"-": {"one-click": 0, "page": 1, "mailto": 0, "other": 0}}
        assert unsubscribes(session, "special-2") == {"-": {"one-click": 1, "page": 1, "mailto": 0, "other": 0}}
