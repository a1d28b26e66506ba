"""Click tracking end to end: a real send into the test SMTP server, the links of the received
messages clicked over real HTTP against `gbaletter serve`, like a person and like a scanner.

Delivery times are set in the past in the journal instead of sleeping; the pauses of the person
are real but short (the burst rule looks at 2 seconds).
"""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from gbaletter.config import load_workspace
from gbaletter.db import utcnow
from gbaletter.delivery.models import Send
from gbaletter.issue.links import read_links
from gbaletter.links import UNSUBSCRIBE, signer_for
from gbaletter.report.numbers import issue_report
from gbaletter.subscribers.service import remove_subscriber
from gbaletter.tracking.events import classified_events
from gbaletter.tracking.models import TrackingEvent
from gbaletter.tracking.retention import RECHECK_SECONDS, close_windows, seconds_to_next_close
from support.bounces import wait_until
from support.tracking import (BROWSER, ISSUE, gbaletter_serve, html_hrefs, image_sources, send_tracked,
                              set_sent_at)

READERS = {"ann@example.com": "Ann", "bob@example.com": "Bob", "cat@example.com": "Cat",
           "dan@example.com": "Dan"}


@pytest.fixture
def sent(sample_workspace, mail_env, run_cli):
    """The sample issue sent to four readers with tracking on (opens too)."""
    issue = send_tracked(sample_workspace, mail_env, run_cli, READERS, 'clicks = "on"\nopens = true')
    yield issue
    issue.db.dispose()


def test_people_and_scanners_are_counted_apart(sent):
    root, db, base, port = sent.root, sent.db, sent.base, sent.port
    links = read_links(root / "issues" / ISSUE / "build")
    target = {link.id: link.url for link in links}
    messages = {address: sent.message_to(address) for address in READERS}
    for address in ("ann@example.com", "bob@example.com", "dan@example.com"):
        set_sent_at(db, address, timedelta(hours=1))   # delivered an hour ago
    set_sent_at(db, "cat@example.com", timedelta(seconds=1))  # delivered just now

    # every tracked link of the HTML part is in the text part too, with the same token
    ann = sent.tracked_links("ann@example.com")
    assert len(ann) == len(links) and all(href in messages["ann@example.com"].get_body(("plain",))
                                          .get_content() for href in ann)
    assert len({href.split("/")[-2] for href in ann}) == 1  # one token per message
    assert {href.split("/")[-1] for href in ann} == set(target)
    unsubscribe = [h for h in html_hrefs(messages["ann@example.com"]) if "/u/" in h]
    assert unsubscribe and not unsubscribe[0].startswith(f"{base}/c/")  # list management untracked

    with gbaletter_serve(root, port) as process, httpx.Client(timeout=10) as http:
        def click(href, agent=BROWSER, method="GET"):
            response = http.request(method, href, headers={"user-agent": agent})
            assert response.status_code == 302, response.text
            assert response.headers["location"] == target[href.split("/")[-1]]
            return response

        # a person: two stories, a pause between them, then the first again
        click(ann[0])
        time.sleep(1.2)
        click(ann[3])
        time.sleep(1.2)
        click(ann[0])
        # a scanner behind Bob's mail gateway: every link at once, a HEAD first, a browser's agent
        bob = sent.tracked_links("bob@example.com")
        click(bob[0], method="HEAD")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(click, bob))
        # Cat's message is fetched the second it arrives; Dan's by a named scanner
        cat = sent.tracked_links("cat@example.com")
        click(cat[1])
        dan = sent.tracked_links("dan@example.com")
        click(dan[2], agent="Mozilla/5.0 (compatible; Mimecast URL Protect)")
        # opens: a person's mail client, and Apple's privacy proxy
        [pixel] = [src for src in image_sources(messages["ann@example.com"]) if src.startswith(f"{base}/o/")]
        assert http.get(pixel, headers={"user-agent": BROWSER}).headers["content-type"] == "image/gif"
        [pixel] = [src for src in image_sources(messages["dan@example.com"]) if src.startswith(f"{base}/o/")]
        assert http.get(pixel, headers={"user-agent": "Mozilla/5.0"}).status_code == 200
        process.send_signal(signal.SIGINT)  # a clean shutdown right after the clicks
        process.communicate(timeout=20)
        assert process.returncode == 0

    with db.reader() as session:
        stored = session.scalar(select(func.count()).select_from(TrackingEvent))
        events = classified_events(session, ISSUE)
    clicks_made = 3 + 1 + len(bob) + 1 + 1
    assert stored == clicks_made + 2  # nothing lost on a clean shutdown
    verdicts = {}
    for event in events:
        verdicts.setdefault(event.kind, []).append(event.verdict)
    assert sorted(verdicts["click"]) == sorted(["human"] * 3 + ["head"] + ["burst"] * len(bob)
                                               + ["too-soon", "agent"])
    assert sorted(verdicts["open"]) == ["apple-mpp", "human"]
    humans = {event.clicker for event in events if event.kind == "click" and event.verdict == "human"}
    assert len(humans) == 1


def test_forged_tokens_and_unknown_links_get_a_404_and_no_redirect(sent):
    root, db, base, port = sent.root, sent.db, sent.base, sent.port
    [first, *_] = sent.tracked_links("ann@example.com")
    token, link_id = first.split("/")[-2:]
    payload, mac = token.split(".")
    ws = load_workspace(root)
    unsubscribe_token = signer_for(ws).make(UNSUBSCRIBE, 1, ISSUE)
    forged = [
        f"{base}/c/{payload}.{mac[:-2]}AA/{link_id}",             # tampered signature
        f"{base}/c/{payload[:-1]}x.{mac}/{link_id}",              # tampered payload
        f"{base}/c/{unsubscribe_token}/{link_id}",                # a token for another purpose
        f"{base}/c/{token}/0000000000",                           # no such link in the issue
        f"{base}/c/{token}/https:%2F%2Fevil.example",             # an attempt at an open redirect
        f"{base}/c/{token}",                                      # no link id
        f"{base}/o/{payload}.{mac[:-2]}AA",                       # a forged open
    ]
    with gbaletter_serve(root, port), httpx.Client(timeout=10) as http:
        for url in forged:
            response = http.get(url, headers={"user-agent": BROWSER})
            assert response.status_code == 404, url
            assert "location" not in response.headers
            assert "Page not found" in response.text
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(TrackingEvent)) == 0


def test_removing_a_subscriber_erases_their_clicks(sent):
    db = sent.db
    with gbaletter_serve(sent.root, sent.port), httpx.Client(timeout=10) as http:
        for address in ("ann@example.com", "bob@example.com"):
            href = sent.tracked_links(address)[0]
            assert http.get(href, headers={"user-agent": BROWSER}).status_code == 302
    with db.erasing() as session:
        remove_subscriber(session, "ann@example.com", actor="test")
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(TrackingEvent)) == 1


def test_tracking_off_sends_the_original_urls(sample_workspace, mail_env, run_cli):
    sent = send_tracked(sample_workspace, mail_env, run_cli, {"ann@example.com": "Ann"}, 'clicks = "off"')
    message = sent.message_to("ann@example.com")
    urls = {link.url for link in read_links(sample_workspace / "issues" / ISSUE / "build")}
    hrefs = html_hrefs(message)
    assert urls <= set(hrefs) and not [h for h in hrefs if "/c/" in h]
    assert not [src for src in image_sources(message) if "/o/" in src]
    text = message.get_body(("plain",)).get_content()
    assert all(url in text for url in urls)
    sent.db.dispose()


@pytest.mark.parametrize("mode", ["aggregate", "per-subscriber"])
def test_closing_the_window_forgets_who_clicked_but_keeps_the_counts(sent, mode):
    config = sent.root / "gbaletter.toml"
    config.write_text(config.read_text() + f'mode = "{mode}"\n')
    with gbaletter_serve(sent.root, sent.port), httpx.Client(timeout=10) as http:
        for address in ("ann@example.com", "bob@example.com"):
            for href in sent.tracked_links(address)[:2]:
                assert http.get(href, headers={"user-agent": BROWSER}).status_code == 302
                time.sleep(0.1)
    ws = load_workspace(sent.root)
    before = report_numbers(ws, sent.db)
    assert close_windows(ws, sent.db, utcnow() + timedelta(days=29)) == []  # still open
    closed = close_windows(ws, sent.db, utcnow() + timedelta(days=31))
    with sent.db.reader() as session:
        rows = session.execute(select(TrackingEvent.delivery_id, TrackingEvent.subscriber_id,
                                      TrackingEvent.verdict)).all()
    if mode == "aggregate":
        assert seconds_to_next_close(ws, sent.db) == RECHECK_SECONDS  # ends in 30 days: look again in an hour
        assert 50 < seconds_to_next_close(ws, sent.db, utcnow() + timedelta(days=30, seconds=-60)) <= 60
        assert closed == [ISSUE]
        assert all(d is None and s is None and v is not None for d, s, v in rows)
    else:
        assert seconds_to_next_close(ws, sent.db) is None
        assert closed == [] and all(d is not None and s is not None and v is None for d, s, v in rows)
    assert report_numbers(ws, sent.db) == before


def test_serve_drops_who_clicked_when_the_window_ends_while_it_runs(sent):
    """Not only at start-up: a `serve` that runs across the end of an issue's window closes it."""
    with gbaletter_serve(sent.root, sent.port), httpx.Client(timeout=10) as http:
        for href in sent.tracked_links("ann@example.com")[:2]:
            assert http.get(href, headers={"user-agent": BROWSER}).status_code == 302
    window = timedelta(days=load_workspace(sent.root).config.tracking.window_days)
    ends = utcnow() + timedelta(seconds=20)  # the issue was first sent a window minus 20 s ago
    with sent.db.session() as session:
        session.execute(update(Send).where(Send.issue_id == ISSUE).values(started_at=ends - window))

    def clicks_with_ids():
        with sent.db.reader() as session:
            return session.scalar(select(func.count()).select_from(TrackingEvent)
                                  .where(TrackingEvent.delivery_id.is_not(None)))

    with gbaletter_serve(sent.root, sent.port) as server:
        assert utcnow() < ends and clicks_with_ids() == 2  # started within the window: kept
        wait_until(lambda: clicks_with_ids() == 0, "serve to close the window", timeout=60)
        assert server.poll() is None and utcnow() >= ends


def report_numbers(ws, db):
    report = issue_report(ws, db, ISSUE)
    return (report.unique_humans, report.human_clicks, report.machine_clicks,
            [(link.key, link.human, link.machine, link.unique_humans) for link in report.links])


@pytest.mark.parametrize("mode", ["aggregate", "per-subscriber"])
def test_a_readers_clicks_are_shown_in_per_subscriber_mode_only(sent, run_cli, mode):
    config = sent.root / "gbaletter.toml"
    config.write_text(config.read_text() + f'mode = "{mode}"\n')
    set_sent_at(sent.db, "ann@example.com", timedelta(hours=1))
    title = {link.id: link.title or link.url for link in read_links(sent.root / "issues" / ISSUE / "build")}
    ann = sent.tracked_links("ann@example.com")
    with gbaletter_serve(sent.root, sent.port), httpx.Client(timeout=10) as http:
        for href in (ann[0], ann[3]):  # a person: two stories, a pause between them
            assert http.get(href, headers={"user-agent": BROWSER}).status_code == 302
            time.sleep(1.2)
        assert http.get(ann[1], headers={"user-agent": "Mimecast URL Protect"}).status_code == 302
        assert http.get(sent.tracked_links("bob@example.com")[2], headers={"user-agent": BROWSER}).status_code == 302

    shown = run_cli(sent.root, "subscribers", "show", "ann@example.com")
    as_json = json.loads(run_cli(sent.root, "subscribers", "show", "ann@example.com", "--json").output)
    assert shown.exit_code == 0, shown.stderr
    if mode == "aggregate":
        assert shown.output.splitlines()[-1] == 'clicks: not kept per subscriber ([tracking] mode = "aggregate")'
        assert as_json["clicks"] is None
        return
    expected = [(title[href.split("/")[-1]], verdict, by) for href, verdict, by in (
        (ann[0], "human", "a person"), (ann[3], "human", "a person"), (ann[1], "agent", "a machine (agent)"))]
    header, *lines = [line.rstrip() for line in shown.output.split("\nclicks\n")[1].splitlines()]
    assert header.split() == ["when", "issue", "link", "by"]
    assert len(lines) == 3 and all(ISSUE in line and link in line and line.endswith(by)
                                   for line, (link, _, by) in zip(lines, expected, strict=True)), lines
    assert [(c["issue"], c["title"] or c["url"], c["verdict"]) for c in as_json["clicks"]] == [
        (ISSUE, link, verdict) for link, verdict, _ in expected]
