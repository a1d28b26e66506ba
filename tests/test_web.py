"""The subscriber pages over real HTTP: the app served by uvicorn on 127.0.0.1, mail caught by aiosmtpd.

A confirmation email leaves after the reply to the form, so a test that expects none sends a
second, valid sign-up afterwards and checks that only that one arrived.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import feedparser
import httpx
import pytest
from lxml import html as lxml_html
from sqlalchemy import create_engine, select

from gbaletter import tokens
from gbaletter.config import WebSettings, Workspace, load_workspace
from gbaletter.db import Database, open_database, utcnow
from gbaletter.delivery.models import Send
from gbaletter.links import UNSUBSCRIBE as UNSUBSCRIBE_PURPOSE
from gbaletter.links import signer_for
from gbaletter.subscribers.models import Status, SubscriberEvent, Subscriber
from gbaletter.subscribers.service import (add_subscriber, find_subscriber, is_suppressed,
                                           remove_subscriber, set_status)
from gbaletter.tokens import Signer
from gbaletter.web import pages
from gbaletter.web.app import create_app
from gbaletter.web import limits
from gbaletter.web.models import ConfirmationClaim
from support.smtp_server import FaultyHandler, free_port
from support.signups import lift_caps, post_sign_up
from support.web_server import serving, wait_for

ISSUE = "2019-W26"
LIST_ID = "weekly.gba.example.org"


@dataclass
class Site:
    ws: Workspace
    db: Database
    http: httpx.Client
    mail: FaultyHandler
    signer: Signer

    def subscriber(self, email: str) -> Subscriber | None:
        with self.db.reader() as session:
            subscriber = find_subscriber(session, email)
            if subscriber is not None:
                _ = (subscriber.tags, subscriber.events)  # loaded while the session is open
            return subscriber

    def status(self, email: str) -> Status | None:
        subscriber = self.subscriber(email)
        return subscriber and subscriber.status

    def events(self, email: str) -> list[SubscriberEvent]:
        return self.subscriber(email).events

    def suppressed(self, email: str) -> bool:
        with self.db.reader() as session:
            return is_suppressed(session, email)

    def unsubscribe_path(self, email: str, issue: str = ISSUE) -> str:
        return f"/u/{self.signer.make(UNSUBSCRIBE_PURPOSE, self.subscriber(email).id, issue)}"

    def sign_up(self, email: str, name: str = "", interests: tuple[str, ...] = ("technology",),
                **extra: str) -> httpx.Response:
        return post_sign_up(self.http, email, name, interests, **extra)

    def mails_to(self, address: str) -> list:
        return [r.message for r in self.mail.received if r.rcpt == address]

    def confirmation(self, address: str):
        """The (first) confirmation email to `address`, waiting for it to arrive."""
        return wait_for(lambda: self.mails_to(address))[0]

    def only_marker_arrives(self) -> None:
        """After requests that must send nothing: a valid sign-up's email arrives, and no other."""
        before = len(self.mail.received)
        self.sign_up("marker@example.net")
        self.confirmation("marker@example.net")
        assert [r.rcpt for r in self.mail.received[before:]] == ["marker@example.net"]


def confirm_path(message) -> str:
    link = lxml_html.fromstring(message.get_body(("html",)).get_content()).xpath("//a/@href")[0]
    assert link in message.get_body(("plain",)).get_content()
    assert link.startswith("https://gba.example.org/newsletter/confirm/")
    return link.removeprefix("https://gba.example.org/newsletter")


def page(response: httpx.Response):
    return lxml_html.fromstring(response.text)


@pytest.fixture
def site(sample_workspace, mail_env):
    lift_caps(sample_workspace)
    ws = load_workspace(sample_workspace)
    db = open_database(ws)
    with db.session() as session:
        add_subscriber(session, "ann@example.com", name="Ann", tags=["technology"])
        add_subscriber(session, "bob@example.com", tags=["finance"])
    with serving(create_app(ws, db), free_port()) as url, \
            httpx.Client(base_url=url, follow_redirects=False, timeout=10) as client:
        yield Site(ws, db, client, mail_env, signer_for(ws))
    db.dispose()


# -- one-click unsubscribe (RFC 8058) ----------------------------------------------------------

@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_post_unsubscribes_at_once_and_is_idempotent(site, encoding):
    path = site.unsubscribe_path("ann@example.com")
    body = ({"data": {"List-Unsubscribe": "One-Click"}} if encoding == "urlencoded"
            else {"files": {"List-Unsubscribe": (None, "One-Click")}})
    for _ in range(2):
        response = site.http.post(path, **body)
        assert response.status_code == 200
        assert not response.is_redirect and "location" not in response.headers
        assert "set-cookie" not in response.headers
        assert response.request.headers["content-type"].startswith(
            "application/x-www-form-urlencoded" if encoding == "urlencoded" else "multipart/form-data")
        assert site.status("ann@example.com") is Status.UNSUBSCRIBED
    [event] = site.events("ann@example.com")
    assert (event.old_status, event.new_status) == (Status.ACTIVE, Status.UNSUBSCRIBED)
    assert event.actor == "web:one-click"
    assert event.reason == f"one-click unsubscribe from issue {ISSUE}"
    assert site.suppressed("ann@example.com")
    assert site.status("bob@example.com") is Status.ACTIVE


def test_get_only_shows_a_confirm_button(site):
    path = site.unsubscribe_path("ann@example.com")
    for method in ("GET", "HEAD", "GET"):
        response = site.http.request(method, path)
        assert response.status_code == 200
    [form] = page(response).xpath("//form")
    assert form.get("method") == "post" and form.get("action") == ""
    assert form.xpath(".//button[@name='unsubscribe']")
    assert page(response).xpath("//meta[@name='robots']/@content") == ["noindex"]
    assert site.status("ann@example.com") is Status.ACTIVE and site.events("ann@example.com") == []


def test_confirm_button_unsubscribes_and_offers_to_resubscribe(site):
    path = site.unsubscribe_path("ann@example.com")
    response = site.http.post(path, data={"unsubscribe": "yes"})
    assert response.status_code == 200
    assert site.status("ann@example.com") is Status.UNSUBSCRIBED
    [event] = site.events("ann@example.com")
    assert (event.actor, event.reason) == ("web:unsubscribe-page", f"unsubscribe page of issue {ISSUE}")
    # the page at /u/<token> posts to ../resubscribe/<token>, which is /resubscribe/<token>
    [action] = page(response).xpath("//form/@action")
    assert action.startswith("../resubscribe/")
    resubscribe = action.removeprefix("..")
    # the page says so later too (its token may carry a later expiry, made in another second)
    [later] = page(site.http.get(path)).xpath("//form/@action")
    assert later.startswith("../resubscribe/")

    welcome = site.http.post(resubscribe)
    assert welcome.status_code == 200 and "Welcome back" in welcome.text
    assert site.status("ann@example.com") is Status.ACTIVE and not site.suppressed("ann@example.com")
    last = site.events("ann@example.com")[-1]
    assert (last.old_status, last.new_status, last.actor) == (Status.UNSUBSCRIBED, Status.ACTIVE,
                                                             "web:resubscribe-button")
    assert ISSUE in last.reason

    again = site.http.post(resubscribe)  # a second click changes nothing
    assert again.status_code == 200 and len(site.events("ann@example.com")) == 2


def test_resubscribe_offer_ends_when_the_status_changes(site):
    path = site.unsubscribe_path("ann@example.com")
    action = page(site.http.post(path, data={"unsubscribe": "yes"})).xpath("//form/@action")[0]
    with site.db.session() as session:  # e.g. the address bounced since
        set_status(session, "ann@example.com", Status.BOUNCED, actor="test")
    response = site.http.post(action.removeprefix(".."))
    assert response.status_code == 400 and "no longer valid" in response.text
    assert site.status("ann@example.com") is Status.BOUNCED


def test_unsubscribing_someone_already_suppressed_or_removed_changes_nothing(site):
    with site.db.session() as session:
        set_status(session, "bob@example.com", Status.BOUNCED, actor="test")
    bob = site.unsubscribe_path("bob@example.com")
    assert site.http.post(bob, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert site.status("bob@example.com") is Status.BOUNCED and len(site.events("bob@example.com")) == 1
    ann = site.unsubscribe_path("ann@example.com")
    with site.db.session() as session:
        remove_subscriber(session, "ann@example.com", actor="test")
    response = site.http.post(ann, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and not page(response).xpath("//form")


def test_post_without_an_unsubscribe_field_is_refused(site):
    response = site.http.post(site.unsubscribe_path("ann@example.com"), data={"other": "1"})
    assert response.status_code == 400
    assert site.status("ann@example.com") is Status.ACTIVE


# -- where the pages answer: base_url's path and the root ------------------------------------

def test_pages_answer_under_base_url_path_and_at_the_root(site):
    for prefix in ("/newsletter", ""):
        form = site.http.get(f"{prefix}/subscribe")
        assert form.status_code == 200
        canonical = page(form).xpath("//link[@rel='canonical']/@href")
        assert canonical == ["https://gba.example.org/newsletter/subscribe"]  # one address for both
        [archive] = page(form).xpath("//nav/a[.='Past issues']/@href")
        archive_url = urljoin(str(form.url), archive)
        assert urlsplit(archive_url).path == f"{prefix}/archive"  # relative links stay where they are
        assert "Past issues" in site.http.get(archive_url).text
        assert site.http.get(f"{prefix}/").status_code == 200


def test_one_click_at_the_messages_url_path_and_the_resubscribe_form_stay_under_it(site):
    path = "/newsletter" + site.unsubscribe_path("ann@example.com")  # as in List-Unsubscribe
    response = site.http.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and site.status("ann@example.com") is Status.UNSUBSCRIBED
    [action] = page(response).xpath("//form/@action")
    resubscribe = urljoin(str(response.url), action)
    assert urlsplit(resubscribe).path.startswith("/newsletter/resubscribe/")
    assert "Welcome back" in site.http.post(resubscribe).text
    assert site.status("ann@example.com") is Status.ACTIVE


# -- health and forwarded headers ---------------------------------------------------------------

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gba.example.org",
             "X-Forwarded-For": "203.0.113.9"}


def test_health_answers_under_the_prefix_and_at_the_root(site):
    for path in ("/healthz", "/newsletter/healthz"):
        response = site.http.get(path)
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
        assert response.json() == {"status": "ok", "database": "ok", "origin": str(site.http.base_url).rstrip("/"),
                                   "origin_is_base_url": False}


def test_health_is_503_when_the_database_does_not_answer(sample_workspace, mail_env, tmp_path):
    ws = load_workspace(sample_workspace)
    gone = Database(create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'gbaletter.db'}"))
    with serving(create_app(ws, gone), free_port()) as url:
        response = httpx.get(f"{url}/newsletter/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and response.json()["database"] == "unavailable"


def test_a_trusted_proxys_forwarded_headers_give_the_public_origin(site):
    response = site.http.get("/newsletter/healthz", headers=FORWARDED)
    assert response.json()["origin"] == "https://gba.example.org"
    assert response.json()["origin_is_base_url"] is True


@pytest.mark.parametrize("host", ["gba.example.org/evil", "a b", "gba.example.org\\x", ""])
def test_a_forwarded_host_that_is_not_a_host_is_ignored(site, host):
    response = site.http.get("/healthz", headers={**FORWARDED, "X-Forwarded-Host": host})
    assert response.json()["origin"] == "https://" + urlsplit(str(site.http.base_url)).netloc


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(sample_workspace, mail_env):
    config = sample_workspace / "gbaletter.toml"
    config.write_text(config.read_text() + '\n[web]\ntrusted_proxies = ["192.0.2.1", "10.0.0.0/8"]\n')
    ws = load_workspace(sample_workspace)
    with serving(create_app(ws), free_port()) as url:
        response = httpx.get(f"{url}/newsletter/healthz", headers=FORWARDED)
    assert response.json()["origin"] == url and response.json()["origin_is_base_url"] is False


# -- links that are not ours -------------------------------------------------------------------

def _tamper(token: str, new_id: int) -> str:
    """The token with another subscriber id in its payload and the original MAC."""
    payload, mac = token.split(".")
    fields = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().split(":")
    fields[1] = str(new_id)
    return base64.urlsafe_b64encode(":".join(fields).encode()).rstrip(b"=").decode() + "." + mac


def test_forged_tampered_and_misused_unsubscribe_links_change_nothing(site):
    ann, bob = site.subscriber("ann@example.com"), site.subscriber("bob@example.com")
    other_secret = Signer(b"another-secret-0123456789", LIST_ID)
    bad = {
        "forged": other_secret.make(UNSUBSCRIBE_PURPOSE, bob.id, ISSUE),
        "tampered": _tamper(site.signer.make(UNSUBSCRIBE_PURPOSE, ann.id, ISSUE), bob.id),
        "other list": Signer(tokens.secret_from_env(), "other.list").make(UNSUBSCRIBE_PURPOSE, bob.id, ISSUE),
        "other purpose": site.signer.make("c", bob.id, ISSUE),
        "cut short": site.signer.make(UNSUBSCRIBE_PURPOSE, bob.id, ISSUE)[:-3],
        "garbage": "not-a-token",
    }
    for name, token in bad.items():
        for response in (site.http.get(f"/u/{token}"),
                         site.http.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}),
                         site.http.post(f"/u/{token}", data={"unsubscribe": "yes"})):
            assert response.status_code == 400, name
            assert "This link does not work" in response.text and "Nothing was changed" in response.text
    for email in ("ann@example.com", "bob@example.com"):
        assert site.status(email) is Status.ACTIVE and site.events(email) == []


def test_expired_and_forged_confirm_and_resubscribe_links_change_nothing(site, monkeypatch):
    site.sign_up("new@example.net")
    path = confirm_path(site.confirmation("new@example.net"))
    token = path.rsplit("/", 1)[1]
    forged = Signer(b"another-secret-0123456789", LIST_ID).make(
        "c", *site.signer.read(token, "c"), max_age=3600)
    tampered = _tamper(token, site.subscriber('bob@example.com').id)
    for bad in (forged, tampered):
        assert site.http.get(f"/confirm/{bad}").status_code == 400
        assert site.http.post(f"/confirm/{bad}").status_code == 400
    assert site.http.post(f"/resubscribe/{token}").status_code == 400  # a confirm link is not a resubscribe one

    eight_days = time.time() + 8 * 24 * 3600
    monkeypatch.setattr(tokens, "time", types.SimpleNamespace(time=lambda: eight_days))
    for expired in (site.http.get(path), site.http.post(path)):
        assert expired.status_code == 400 and "expired" in expired.text
    assert site.status("new@example.net") is Status.UNCONFIRMED and site.events("new@example.net") == []


# -- subscribe and confirm ---------------------------------------------------------------------

def test_subscribe_form_is_plain_accessible_html(site):
    response = site.http.get("/subscribe")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    doc = page(response)
    assert doc.xpath("//meta[@name='viewport']") and doc.get("lang") == "en"
    # one script, ours: the proof-of-work solver, served by us
    assert doc.xpath("//script/@src") == ["./altcha.js"] and len(doc.xpath("//style")) == 1
    assert doc.xpath("//form/@data-altcha") == ["./altcha/challenge"]
    for field in ("email", "name", "website"):
        assert doc.xpath(f"//label[@for='{field}']"), field
    # the desk's [topics], each as its name, all ticked: not its own tags (default_tags: briefs, 5g)
    topics = [(box.get("value"), box.getparent().text_content().strip())
              for box in doc.xpath("//input[@name='interests']")]
    assert topics == [("technology", "Technology"), ("finance", "Finance and markets"), ("policy", "Policy"),
                      ("transport", "Transport")]
    assert doc.xpath("//input[@name='interests'][@checked]/@value") == [tag for tag, _ in topics]
    assert doc.xpath("string(//fieldset[.//input[@name='interests']]/legend)") == "Topics"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' " not in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    script = site.http.get("/altcha.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert b"crypto.subtle.digest" in script.content


def test_new_address_is_stored_unconfirmed_and_the_link_activates_it(site):
    response = site.sign_up("  New@Example.NET ", name="Chan Tai Man", interests=("transport", "finance", "5g"))
    assert response.status_code == 200 and "Check your inbox" in response.text
    new = site.subscriber("New@example.net")
    assert new.status is Status.UNCONFIRMED and new.name == "Chan Tai Man"
    # 5g is a tag of the desk's, not a topic the form offers
    assert new.tag_names == ["finance", "transport"] and new.consent_source.startswith("subscribe form")

    message = site.confirmation("New@example.net")
    assert message["Subject"] == "Please confirm your subscription to GBA Weekly"
    assert message["From"] == "GBA Weekly <weekly@gba.example.org>"
    assert message["To"] == "New@example.net" and message["Message-ID"]
    for part in ("plain", "html"):  # nothing the visitor typed or chose is repeated to the inbox
        body = message.get_body((part,)).get_content()
        assert body.startswith("Hello,") or "<p>Hello,</p>" in body
        assert "Chan" not in body and "finance" not in body and "New@" not in body
    path = confirm_path(message)

    for method in ("GET", "HEAD", "GET"):  # what a mail scanner following the link does
        opened = site.http.request(method, path)
        assert opened.status_code == 200
    [form] = page(opened).xpath("//form")
    assert form.get("method") == "post" and form.get("action") == ""
    assert form.xpath("string(.//button)") == "Confirm my subscription"
    assert page(opened).xpath("//meta[@name='robots']/@content") == ["noindex"]
    assert site.status("new@example.net") is Status.UNCONFIRMED and site.events("new@example.net") == []

    confirmed = site.http.post(path)  # the button
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
    assert site.status("new@example.net") is Status.ACTIVE
    [event] = site.events("new@example.net")
    assert (event.old_status, event.new_status, event.actor) == (Status.UNCONFIRMED, Status.ACTIVE,
                                                                 "web:confirm-button")
    for again in (site.http.post(path), site.http.get(path)):  # a second click, or the link again
        assert again.status_code == 200 and "already subscribed" in again.text
        assert not page(again).xpath("//form")
    assert len(site.events("new@example.net")) == 1
    site.only_marker_arrives()  # no welcome email unless [newsletter] welcome_email is on


def test_welcome_email_after_confirming_when_turned_on(sample_workspace, mail_env):
    config = sample_workspace / "gbaletter.toml"
    config.write_text(config.read_text().replace("[newsletter]\n", "[newsletter]\nwelcome_email = true\n", 1))
    lift_caps(sample_workspace)
    ws = load_workspace(sample_workspace)
    with serving(create_app(ws), free_port()) as url, httpx.Client(base_url=url) as http:
        post_sign_up(http, "new@example.net", "Wong Siu Ming", ("finance",))
        path = confirm_path(wait_for(lambda: [r.message for r in mail_env.received])[0])
        http.get(path)
        assert len(mail_env.received) == 1  # opening the link sends nothing
        http.post(path)
        welcome = wait_for(lambda: [r.message for r in mail_env.received][1:])[0]
        http.post(path)  # already confirmed: no second welcome, only the marker's email follows
        post_sign_up(http, "marker@example.net")
        wait_for(lambda: [r for r in mail_env.received if r.rcpt == "marker@example.net"])
        assert [r.rcpt for r in mail_env.received] == ["new@example.net"] * 2 + ["marker@example.net"]
        assert welcome["Subject"] == "Welcome to GBA Weekly" and welcome["To"] == "new@example.net"
        text = welcome.get_body(("plain",)).get_content()
        assert "Wong" not in text and "Your interests: Finance and markets" in text
        assert "https://gba.example.org/newsletter/archive" in text
        assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = welcome["List-Unsubscribe"].strip("<>")
        assert unsubscribe in text and unsubscribe.startswith("https://gba.example.org/newsletter/u/")
        links = lxml_html.fromstring(welcome.get_body(("html",)).get_content()).xpath("//a/@href")
        assert links[0::2] == ["https://gba.example.org/newsletter/archive", unsubscribe]
        assert links[1].startswith("https://gba.example.org/newsletter/p/") and links[1] in text
        topics = http.get(links[1].removeprefix("https://gba.example.org"))
        assert topics.status_code == 200 and "Take a break" in topics.text
        one_click = http.post(unsubscribe.removeprefix("https://gba.example.org"),
                              data={"List-Unsubscribe": "One-Click"})
        assert one_click.status_code == 200
    db = open_database(ws)
    with db.reader() as session:
        subscriber = find_subscriber(session, "new@example.net")
        assert subscriber.status is Status.UNSUBSCRIBED
        assert subscriber.events[-1].reason == "one-click unsubscribe from issue welcome"
    db.dispose()


def test_reply_is_the_same_for_known_and_unknown_addresses(site):
    with site.db.session() as session:
        set_status(session, "bob@example.com", Status.UNSUBSCRIBED, actor="test")
    replies = {email: site.sign_up(email) for email in
               ("ann@example.com", "bob@example.com", "nobody@example.com")}
    bodies = {r.text.replace(email, "ADDRESS") for email, r in replies.items()}
    assert {r.status_code for r in replies.values()} == {200} and len(bodies) == 1
    # ann is active: nothing to confirm, nothing changed; bob unsubscribed: suppressed, no email
    assert site.subscriber("ann@example.com").tag_names == ["technology"]
    site.confirmation("nobody@example.com")
    site.only_marker_arrives()
    assert sorted(r.rcpt for r in site.mail.received) == ["marker@example.net", "nobody@example.com"]


def test_honeypot_pretends_success_and_stores_nothing(site):
    response = site.sign_up("bot@example.com", website="http://spam.example")
    assert response.status_code == 200 and "Check your inbox" in response.text
    assert site.subscriber("bot@example.com") is None
    site.only_marker_arrives()


def test_one_confirmation_email_per_address_per_ten_minutes(site):
    assert site.sign_up("new@example.net").status_code == 200
    site.confirmation("new@example.net")
    assert site.sign_up("NEW@example.net").status_code == 200
    site.only_marker_arrives()
    assert len(site.mails_to("new@example.net")) == 1


def test_rate_limit_forgets_after_the_interval_and_on_release(site):
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    caps = limits.Caps.from_settings(WebSettings(confirmations_per_mailbox=0, confirmations_per_network=0,
                                                 confirmations_per_hour=0))
    a, b = (limits.sign_up_keys(address, "192.0.2.1") for address in ("a@example.org", "b@example.org"))
    first = limits.claim(site.db, a, caps, start)
    assert first and not limits.claim(site.db, a, caps, start)
    assert limits.claim(site.db, b, caps, start)
    assert not limits.claim(site.db, a, caps, start + timedelta(seconds=599))
    assert limits.claim(site.db, a, caps, start + timedelta(seconds=600))
    later = start + timedelta(hours=1, minutes=10)
    last = limits.claim(site.db, a, caps, later)
    limits.release(site.db, last)
    assert limits.claim(site.db, a, caps, later)
    with site.db.reader() as session:  # the claims older than the longest window went
        assert set(session.scalars(select(ConfirmationClaim.claimed_at))) == {later}


def _race(engines: list[Database], keys: dict[str, bytes], caps: limits.Caps,
          at: datetime) -> list[bool]:
    """Every engine claims `keys` at once (released together by a barrier), each in a thread."""
    barrier = threading.Barrier(len(engines))

    def claim(db: Database) -> bool:
        barrier.wait()
        return limits.claim(db, keys, caps, at) is not None

    with ThreadPoolExecutor(len(engines)) as pool:
        return sorted(pool.map(claim, engines))


def test_racing_claims_of_one_address_let_exactly_one_through(site):
    """Six processes' worth of engines claiming at the same moment, fresh and once the last claim
    is stale: one wins each time (the list's write lock orders them, on SQLite and PostgreSQL)."""
    engines = [open_database(site.ws) for _ in range(6)]
    keys, start = limits.sign_up_keys("race@example.org", "192.0.2.1"), datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    caps = limits.Caps.from_settings(WebSettings())
    try:
        for at in (start, start + timedelta(minutes=11)):
            assert _race(engines, keys, caps, at) == [False] * 5 + [True]
    finally:
        for db in engines:
            db.dispose()


def test_the_rate_limit_is_shared_by_every_server_process(site):
    """Two apps on two engines of the same database file, as two `serve --workers` processes."""
    other_db = open_database(site.ws)
    with serving(create_app(site.ws, other_db), free_port()) as other_url:
        assert site.sign_up("new@example.net").status_code == 200
        site.confirmation("new@example.net")
        with httpx.Client(base_url=other_url) as other:
            second = post_sign_up(other, "new@example.net")
        assert second.status_code == 200 and "Check your inbox" in second.text
        site.only_marker_arrives()
    other_db.dispose()
    assert len(site.mails_to("new@example.net")) == 1


def test_unreachable_mail_server_lets_the_person_try_again(site, monkeypatch):
    working_port = os.environ["GBALETTER_SMTP_PORT"]
    monkeypatch.setenv("GBALETTER_SMTP_PORT", str(free_port()))
    assert site.sign_up("new@example.net").status_code == 200
    assert site.status("new@example.net") is Status.UNCONFIRMED
    monkeypatch.setenv("GBALETTER_SMTP_PORT", working_port)

    def try_again():
        assert site.sign_up("new@example.net").status_code == 200
        return site.mails_to("new@example.net")

    wait_for(try_again)  # as soon as the failed attempt gave its turn back


def test_unsubscribed_address_gets_nothing_from_the_form_and_comes_back_by_its_link(site):
    ann = site.unsubscribe_path("ann@example.com")
    unsubscribed = site.http.post(ann, data={"List-Unsubscribe": "One-Click"})
    assert "Check your inbox" in site.sign_up("ann@example.com", name="Ann Lee", interests=("finance",)).text
    site.only_marker_arrives()
    assert site.status("ann@example.com") is Status.UNSUBSCRIBED and site.suppressed("ann@example.com")
    assert site.subscriber("ann@example.com").name == "Ann"
    assert site.subscriber("ann@example.com").tag_names == ["technology"]
    resubscribe = page(unsubscribed).xpath("//form/@action")[0]
    assert site.http.post(urljoin(ann, resubscribe)).status_code == 200
    assert site.status("ann@example.com") is Status.ACTIVE and not site.suppressed("ann@example.com")


def test_removed_address_is_not_stored_again(site):
    with site.db.session() as session:
        remove_subscriber(session, "bob@example.com", actor="test")
    assert "Check your inbox" in site.sign_up("bob@example.com").text
    assert site.subscriber("bob@example.com") is None
    site.only_marker_arrives()


@pytest.mark.parametrize("email, name, problem", [
    ("not an address", "", "email address"),
    ("a@example.com\r\nBcc: x@example.com", "", "email address"),
    ("<script>alert(1)</script>", "", "email address"),
    ("用户@例子.广告", "", "email address"),
    ("a@example.com", "Line\nbreak", "name"),
])
def test_invalid_input_shows_the_form_again(site, email, name, problem):
    response = site.sign_up(email, name=name, interests=("policy",))
    assert response.status_code == 400
    doc = page(response)
    assert problem in doc.xpath("string(//*[@role='alert'])")
    assert doc.xpath("//input[@name='interests'][@checked]/@value") == ["policy"]
    assert doc.xpath("//input[@name='email']/@value") == [email.replace("\r\n", "\n")]  # kept, escaped
    assert "<script>" not in response.text
    assert site.mail.received == []


# -- archive -----------------------------------------------------------------------------------

def test_archive_shows_only_sent_issues_with_neutral_placeholders(site, run_cli):
    root = site.ws.root
    assert run_cli(root, "issue", "build", ISSUE).exit_code == 0
    empty = site.http.get("/archive")
    assert empty.status_code == 200 and "No issue has been sent yet" in empty.text
    assert site.http.get(f"/archive/{ISSUE}").status_code == 404  # built, not sent: private

    sent = run_cli(root, "issue", "send", ISSUE, "--segment", "tag:technology")
    assert sent.exit_code == 0, sent.stderr
    doc = page(site.http.get("/archive"))
    [link] = doc.xpath("//ol[@class='issues']//a")
    assert link.get("href") == f"./archive/{ISSUE}" and link.text.startswith("GBA Weekly #1:")
    assert doc.xpath("//time/@datetime")[0].startswith("2019-")

    response = site.http.get(f"/archive/{ISSUE}")
    assert response.status_code == 200 and "img-src" in response.headers["content-security-policy"]
    assert "{{" not in response.text
    issue = page(response)
    assert "Hi reader," in issue.text_content()
    assert issue.xpath('//a[normalize-space()="Unsubscribe"]/@href') == [
        "https://gba.example.org/newsletter/subscribe"]
    assert issue.xpath('//a[normalize-space()="View in browser"]/@href') == [
        f"https://gba.example.org/newsletter/archive/{ISSUE}"]
    assert "/u/" not in response.text


def test_archive_lists_newest_first_and_leaves_out_what_it_cannot_show(site, run_cli):
    root = site.ws.root
    assert run_cli(root, "issue", "build", ISSUE).exit_code == 0
    later = root / "issues" / "2019-W27"
    shutil.copytree(root / "issues" / ISSUE, later)
    manifest = later / "issue.yaml"
    manifest.write_text(manifest.read_text().replace('id: "2019-W26"', 'id: "2019-W27"')
                        .replace("number: 1", "number: 2").replace("date: 2019-06-30", "date: 2019-07-07")
                        .replace("GBA Weekly #1:", "GBA Weekly #2:"))
    impossible = root / "issues" / "2019-W28"  # an impossible date in a sent manifest (issue 23 #6)
    shutil.copytree(later, impossible)
    (impossible / "issue.yaml").write_text(manifest.read_text().replace('id: "2019-W27"', 'id: "2019-W28"')
                                           .replace("date: 2019-07-07", "date: 2019-02-30"))
    with site.db.session() as session:
        for issue_id in (ISSUE, "2019-W27", "2019-W25", "2019-W28"):  # W25: sent, its folder deleted
            session.add(Send(issue_id=issue_id, segment="all", recipients=0, started_at=utcnow()))
    doc = page(site.http.get("/archive"))
    assert doc.xpath("//ol[@class='issues']//a/@href") == ["./archive/2019-W27", f"./archive/{ISSUE}"]
    assert doc.xpath("//time/text()") == ["7 July 2019", "30 June 2019"]
    assert site.http.get("/archive/2019-W25").status_code == 404


def test_archive_shows_what_was_sent_whatever_is_rebuilt_with_cards_latest_and_feed(site, run_cli):
    root = site.ws.root
    assert run_cli(root, "issue", "build", ISSUE).exit_code == 0
    assert site.http.get("/archive/latest").status_code == 404  # nothing sent yet
    assert feedparser.parse(site.http.get("/archive/feed.xml").content).entries == []
    assert run_cli(root, "issue", "send", ISSUE, "--segment", "tag:technology").exit_code == 0
    sent = site.http.get(f"/archive/{ISSUE}")
    manifest = root / "issues" / ISSUE / "issue.yaml"
    manifest.write_text(manifest.read_text().replace("This week the Greater Bay Area", "Corrected: the GBA"))
    post = root / "posts" / "2019-06-28-shenzhen-5g-smart-port.md"
    post.write_text(post.read_text().replace("image: images/shekou-container-cranes.jpg",
                                             "image: images/qingyuan-maglev-track.jpg"))
    assert run_cli(root, "issue", "build", ISSUE).exit_code == 0
    assert "Corrected: the GBA" in (root / "issues" / ISSUE / "build" / "email.html").read_text()
    again = site.http.get(f"/archive/{ISSUE}")
    assert again.status_code == 200 and again.content == sent.content  # byte for byte
    assert "Corrected" not in again.text

    doc = page(again)
    view = f"https://gba.example.org/newsletter/archive/{ISSUE}"
    metas = {m.get("property") or m.get("name"): m.get("content") for m in doc.xpath("//head/meta")}
    subject, preheader = doc.findtext(".//title"), metas["description"]
    assert subject.startswith("GBA Weekly #1:") and preheader.startswith("Patents without basic research")
    assert (metas["og:title"], metas["og:description"], metas["og:url"]) == (subject, preheader, view)
    assert (metas["twitter:title"], metas["twitter:description"]) == (subject, preheader)
    assert metas["twitter:card"] == "summary_large_image" and metas["og:type"] == "article"
    lead = metas["og:image"]
    assert lead == metas["twitter:image"] and lead.startswith("https://gba.example.org/newsletter/images/")
    picture = site.http.get(lead.removeprefix("https://gba.example.org/newsletter"))
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"  # the image as sent
    assert lead.rpartition("/")[2] not in (root / "issues" / ISSUE / "build" / "images.json").read_text()
    [feed_link] = doc.xpath("//head/link[@rel='alternate'][@type='application/atom+xml']/@href")
    assert feed_link == "https://gba.example.org/newsletter/archive/feed.xml"
    assert page(site.http.get("/archive")).xpath("//head/link[@type='application/atom+xml']/@href") == [feed_link]

    latest = site.http.get("/archive/latest")
    assert (latest.status_code, latest.headers["location"]) == (307, view)

    response = site.http.get("/archive/feed.xml")
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo and feed.version == "atom10"
    assert feed.feed.title == "GBA Weekly" and feed.feed.link == "https://gba.example.org/newsletter/archive"
    [entry] = feed.entries
    assert (entry.title, entry.link, entry.id, entry.summary) == (subject, view, view, preheader)
    assert entry.updated_parsed is not None


def test_workspace_templates_override_the_pages(site):
    override = site.ws.templates_dir / "web" / "subscribe_sent.html.j2"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text('{% extends "web/_base.html.j2" %}{% block title %}Merci{% endblock %}'
                        '{% block content %}<h1>Merci, {{ email }}</h1>{% endblock %}')
    response = site.sign_up("new@example.net")
    assert page(response).xpath("string(//h1)") == "Merci, new@example.net"


def test_an_edited_page_template_shows_once_the_pages_are_looked_over(site, monkeypatch):
    """Jinja does not look at the files' times per page; the environment made afresh does."""
    override = site.ws.templates_dir / "web" / "subscribe_sent.html.j2"
    override.parent.mkdir(parents=True, exist_ok=True)
    for word in ("Merci", "Danke"):
        override.write_text('{% extends "web/_base.html.j2" %}{% block title %}' + word +
                            '{% endblock %}{% block content %}<h1>' + word + '</h1>{% endblock %}')
        assert page(site.sign_up(f"{word}@example.net")).xpath("string(//h1)") == word
        monkeypatch.setattr(pages, "RECHECK_SECONDS", 0.0)  # the next page looks the folder over


@pytest.mark.parametrize("path", ["/archive/2019-W99", "/archive/-x", "/archive/%2e%2e%2fgbaletter.toml",
                                  "/nothing-here", "/subscribe/"])
def test_unknown_pages_are_404(site, path):
    response = site.http.get(path)
    assert response.status_code == 404 and "Page not found" in response.text


def test_wrong_method_is_405(site):
    response = site.http.get("/resubscribe/whatever")
    assert response.status_code == 405 and "Method not allowed" in response.text


# -- gbaletter serve ---------------------------------------------------------------------------

def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url)
    except httpx.ConnectError:
        return None


@pytest.mark.parametrize("workers, trusted, client", [
    (2, None, "203.0.113.9"),            # the default trusts 127.0.0.1: the forwarded client is logged
    (1, "192.0.2.1", "127.0.0.1"),       # any other proxy: the connection's own address is
    (1, None, None),                     # no --access-log: no request is logged at all
])
def test_serve_listens_on_loopback_logs_requests_if_asked_and_stops_on_ctrl_c(sample_workspace, mail_env,
                                                                             workers, trusted, client):
    if trusted:
        config = sample_workspace / "gbaletter.toml"
        config.write_text(config.read_text() + f'\n[web]\ntrusted_proxies = ["{trusted}"]\n')
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "gbaletter", "--root", str(sample_workspace),
                                "serve", "--port", str(port), "--workers", str(workers),
                                *(["--access-log"] if client else [])],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        response = wait_for(lambda: _get(f"http://127.0.0.1:{port}/newsletter/subscribe"), timeout=30)
        assert response.status_code == 200 and "server" not in response.headers
        health = httpx.get(f"http://127.0.0.1:{port}/newsletter/healthz", headers=FORWARDED)
        assert health.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert f"http://127.0.0.1:{port}" in stderr
    if client:
        assert re.search(rf'{re.escape(client)}:\d+ - "GET /newsletter/healthz HTTP/1.1" 200', stdout + stderr)
    else:  # the paths carry signed tokens, and addresses are personal data: neither is logged
        assert "/newsletter/" not in stdout + stderr and FORWARDED["X-Forwarded-For"] not in stdout + stderr


def test_serve_needs_the_secret(sample_workspace, run_cli, monkeypatch):
    monkeypatch.delenv("GBALETTER_SECRET", raising=False)
    result = run_cli(sample_workspace, "serve")
    assert result.exit_code == 1 and result.error_lines == [
        "error: set GBALETTER_SECRET to a random secret of at least 16 characters "
        "(it signs unsubscribe and confirmation links)"]


def test_an_erased_subscribers_id_is_never_given_to_someone_else(tmp_path):
    """Unsubscribe links carry ids: after an erasure the next subscriber must get a new id."""
    from gbaletter.config import load_workspace
    from gbaletter.db import open_database
    from gbaletter.subscribers.service import add_subscriber, remove_subscriber

    (tmp_path / "gbaletter.toml").write_text("")
    db = open_database(load_workspace(tmp_path))
    with db.session() as session:
        first = add_subscriber(session, "first@example.org").id
        last = add_subscriber(session, "last@example.org").id
    with db.session() as session:
        remove_subscriber(session, "last@example.org", actor="test")
    with db.session() as session:
        newcomer = add_subscriber(session, "new@example.org").id
    assert newcomer not in (first, last) and newcomer > last


def test_a_desk_without_topics_offers_its_default_tags_and_tags_the_sign_up(sample_workspace, mail_env):
    """Without `[topics]` the form offers `default_tags` by their tags (as before topics had
    names), so a sign-up is tagged and a `tag:` segment reaches it; the preferences page offers
    the same."""
    config = sample_workspace / "gbaletter.toml"
    text = config.read_text(encoding="utf-8")
    start = text.index("\n[topics]")
    end = text.find("\n[", start + 1)
    config.write_text(text[:start] + (text[end:] if end != -1 else "\n"), encoding="utf-8")
    lift_caps(sample_workspace)
    ws = load_workspace(sample_workspace)
    assert not ws.config.topics
    db = open_database(ws)
    with serving(create_app(ws, db), free_port()) as url, \
            httpx.Client(base_url=url, follow_redirects=False, timeout=10) as client:
        offered = page(client.get("/subscribe")).xpath("//input[@name='interests']/@value")
        assert offered == ws.config.newsletter.default_tags
        assert post_sign_up(client, "new@example.net", interests=("finance", "briefs", "nope")).status_code == 200
    with db.reader() as session:
        assert find_subscriber(session, "new@example.net").tag_names == ["briefs", "finance"]


def test_a_form_template_copied_before_topics_had_names_still_renders(sample_workspace, mail_env):
    """`init --templates` copied the form when it offered `interests` (tags, no names): such a
    copy keeps working, given the offered tags under that name."""
    (sample_workspace / "templates" / "web").mkdir(parents=True, exist_ok=True)
    (sample_workspace / "templates" / "web" / "_subscribe_form.html.j2").write_text(
        '<form method="post">{% if interests %}{% for tag in interests %}'
        '<input type="checkbox" name="interests" value="{{ tag }}"{% if tag in chosen %} checked{% endif %}>'
        '{% endfor %}{% endif %}</form>', encoding="utf-8")
    ws = load_workspace(sample_workspace)
    with serving(create_app(ws, open_database(ws)), free_port()) as url:
        response = httpx.get(f"{url}/subscribe", timeout=10)
    assert response.status_code == 200
    assert page(response).xpath("//input[@name='interests'][@checked]/@value") == ws.config.offered_topics
