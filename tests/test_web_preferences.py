"""The reader's own page over real HTTP (uvicorn on 127.0.0.1, mail caught by aiosmtpd): topics,
a pause, a change of address, download and erase, unsubscribe; and every bad link refused with
nothing changed."""

from __future__ import annotations

import json
import time
import types
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from lxml import html as lxml_html

from gbaletter.config import load_workspace
from gbaletter.db import open_database, utcnow
from gbaletter import tokens
from gbaletter.links import CHANGE_ADDRESS, UNSUBSCRIBE, preferences_token, signer_for
from gbaletter.tokens import Signer
from gbaletter.subscribers.models import Status
from gbaletter.subscribers.service import add_subscriber, find_subscriber, is_suppressed, set_status
from gbaletter.web.app import create_app
from support.signups import lift_caps
from support.smtp_server import free_port
from support.web_server import serving, wait_for


class Reader:
    def __init__(self, db, http, mail, signer):
        self.db, self.http, self.mail, self.signer = db, http, mail, signer

    def subscriber(self, email="ann@example.com"):
        with self.db.reader() as session:
            subscriber = find_subscriber(session, email)
            if subscriber is not None:
                _ = (subscriber.tags, subscriber.events)
            return subscriber

    def path(self, email="ann@example.com") -> str:
        subscriber = self.subscriber(email)
        return f"/p/{preferences_token(self.signer, subscriber.id, subscriber.email)}"

    def post(self, path, **data) -> httpx.Response:
        return self.http.post(path, data=data)

    def mails_to(self, address):
        return [r.message for r in self.mail.received if r.rcpt == address]


@pytest.fixture
def reader(sample_workspace, mail_env):
    lift_caps(sample_workspace)
    ws = load_workspace(sample_workspace)
    db = open_database(ws)
    with db.session() as session:
        add_subscriber(session, "ann@example.com", name="Ann", tags=["technology", "vip"])
        add_subscriber(session, "bob@example.com", tags=["finance"])
    with serving(create_app(ws, db), free_port()) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield Reader(db, http, mail_env, signer_for(ws))
    db.dispose()


def doc(response):
    return lxml_html.fromstring(response.text)


def test_the_page_shows_the_public_topics_and_changes_nothing(reader):
    path = reader.path()
    for _ in range(2):
        page = reader.http.get(path)
        assert page.status_code == 200 and "set-cookie" not in page.headers
    d = doc(page)
    boxes = {box.get("value"): box.get("checked") is not None for box in d.xpath("//input[@name='topics']")}
    assert boxes == {"technology": True, "finance": False, "policy": False, "transport": False}
    assert [" ".join(label.text_content().split()) for label in d.xpath("//fieldset/label")] == [
        "Technology", "Finance and markets", "Policy", "Transport"]
    assert "vip" not in page.text  # the desk's own tags are not shown
    assert d.xpath("//meta[@name='robots']/@content") == ["noindex"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert reader.subscriber().events == []


def test_topics_change_only_the_offered_tags_and_are_an_event(reader):
    path = reader.path()
    saved = reader.http.post(path, data={"action": "topics", "topics": ["finance", "policy", "vip", "x"]})
    assert saved.status_code == 200 and "Your topics are saved." in saved.text
    ann = reader.subscriber()
    assert ann.tag_names == ["finance", "policy", "vip"]
    assert ann.events[-1].reason == "topics: added finance, policy; removed technology"
    assert ann.events[-1].actor == "web:preferences"


def test_pause_and_resume(reader):
    path = reader.path()
    paused = reader.post(path, action="pause", weeks="8")
    assert paused.status_code == 200
    until = reader.subscriber().paused_until
    assert timedelta(weeks=8) - timedelta(minutes=1) < until - utcnow() <= timedelta(weeks=8)
    assert f"until {until:%Y-%m-%d}" in paused.text
    assert reader.post(path, action="pause", weeks="3").status_code == 400  # not offered
    assert reader.subscriber().paused_until == until
    assert "you will get the next issue" in reader.post(path, action="resume").text
    assert reader.subscriber().paused_until is None
    assert [e.reason.split(" until")[0] for e in reader.subscriber().events] == [
        "paused", "resumed before the pause ended"]


def test_download_my_data(reader):
    data = reader.post(reader.path(), action="download")
    assert data.status_code == 200 and data.headers["content-type"].startswith("application/json")
    assert data.headers["content-disposition"] == 'attachment; filename="my-data.json"'
    mine = json.loads(data.text)
    assert mine["profile"]["email"] == "ann@example.com" and mine["profile"]["name"] == "Ann"
    assert mine["profile"]["tags"] == ["technology", "vip"]
    assert mine["history"] == [] and mine["deliveries"] == []
    assert mine["clicks"] is None and mine["clicks_kept"] is False  # aggregate tracking mode
    assert "bob@example.com" not in data.text


def test_erase_asks_first_then_leaves_only_the_hash(reader):
    path = reader.path()
    asked = reader.post(path, action="erase")
    assert asked.status_code == 200 and doc(asked).xpath("//button[@name='confirm']/@value") == ["yes"]
    assert reader.subscriber() is not None
    erased = reader.post(path, action="erase", confirm="yes")
    assert erased.status_code == 200 and "You are erased" in erased.text
    assert reader.subscriber() is None
    with reader.db.reader() as session:
        assert is_suppressed(session, "ann@example.com")
    for again in (reader.http.get(path), reader.post(path, action="download"),
                  reader.post(path, action="erase", confirm="yes")):
        assert again.status_code == 400 and "no longer valid" in again.text


def test_unsubscribe_from_the_page_and_the_unsubscribe_page_links_here(reader):
    ann = reader.subscriber()
    page = reader.http.get(f"/u/{reader.signer.make(UNSUBSCRIBE, ann.id, '2019-W26')}")
    link = doc(page).xpath("//a[text()='Your preferences']/@href")[0]
    assert link == "../" + reader.path().lstrip("/")
    left = reader.post(reader.path(), action="unsubscribe")
    assert left.status_code == 200 and "You are unsubscribed" in left.text
    assert reader.subscriber().status is Status.UNSUBSCRIBED


def test_change_of_address_by_a_link_to_the_new_one_and_the_old_one_told(reader):
    path = reader.path()
    asked = reader.post(path, action="address", email="Ann.New@Example.net")
    assert asked.status_code == 200 and "We sent a link to the new address" in asked.text
    [message] = wait_for(lambda: reader.mails_to("Ann.New@example.net"))
    link = lxml_html.fromstring(message.get_body(("html",)).get_content()).xpath("//a/@href")[0]
    assert link.startswith("https://gba.example.org/newsletter/address/")
    change = urlsplit(link).path.removeprefix("/newsletter")
    opened = reader.http.get(change)  # a mail scanner: nothing happens
    assert opened.status_code == 200 and reader.subscriber() is not None
    done = reader.http.post(change)
    assert done.status_code == 200 and "Your address is changed" in done.text
    assert reader.subscriber() is None
    moved = reader.subscriber("ann.new@example.net")
    assert moved.id is not None and moved.tag_names == ["technology", "vip"]
    assert moved.events[-1].reason == "address changed from ann@example.com to Ann.New@example.net"
    [notice] = wait_for(lambda: reader.mails_to("ann@example.com"))
    assert "moved to another address" in notice["Subject"]
    assert "Ann.New" not in notice.as_string()
    # the old page link and the used change link no longer work; the new page link does
    for stale in (reader.http.get(path), reader.http.post(change)):
        assert stale.status_code == 400
    new_page = doc(done).xpath("//a[text()='Your preferences']/@href")[0]
    assert reader.http.get(new_page.replace("../", "/", 1)).status_code == 200


def test_an_expired_or_forged_change_link_changes_nothing(reader, monkeypatch):
    reader.post(reader.path(), action="address", email="later@example.net")
    [message] = wait_for(lambda: reader.mails_to("later@example.net"))
    change = urlsplit(lxml_html.fromstring(message.get_body(("html",)).get_content())
                      .xpath("//a/@href")[0]).path.removeprefix("/newsletter")
    token = change.rsplit("/", 1)[1]
    forged = Signer(b"another-secret-0123456789", "x").make(CHANGE_ADDRESS, *reader.signer.read(
        token, CHANGE_ADDRESS), max_age=3600)
    assert reader.http.post(f"/address/{forged}").status_code == 400
    three_days = time.time() + 3 * 24 * 3600
    monkeypatch.setattr(tokens, "time", types.SimpleNamespace(time=lambda: three_days))
    for expired in (reader.http.get(change), reader.http.post(change)):
        assert expired.status_code == 400 and "expired" in expired.text
    assert reader.subscriber().email == "ann@example.com" and reader.subscriber().events == []


def test_an_address_on_the_list_or_suppressed_is_refused(reader):
    with reader.db.session() as session:
        add_subscriber(session, "gone@example.com")
        set_status(session, "gone@example.com", Status.COMPLAINED, actor="test")
    path = reader.path()
    for taken in ("bob@example.com", "gone@example.com", "not an address"):
        refused = reader.post(path, action="address", email=taken)
        assert refused.status_code == 400 and "cannot be used" in refused.text
    assert reader.subscriber().email == "ann@example.com"
    reader.post(path, action="address", email="marker@example.net")  # a valid one, mailed
    wait_for(lambda: reader.mails_to("marker@example.net"))
    assert [r.rcpt for r in reader.mail.received] == ["marker@example.net"]


@pytest.mark.parametrize("mangle", ["forged", "unsubscribe token", "truncated", "other address"])
def test_bad_preference_links_change_nothing(reader, mangle):
    ann = reader.subscriber()
    token = {"forged": "eyJ4Ijox.AAAAAAAAAAAAAAAAAAAAAA",
             "unsubscribe token": reader.signer.make(UNSUBSCRIBE, ann.id, "2019-W26"),
             "truncated": reader.path()[3:-4],
             "other address": preferences_token(reader.signer, ann.id, "bob@example.com")}[mangle]
    for response in (reader.http.get(f"/p/{token}"),
                     reader.post(f"/p/{token}", action="unsubscribe"),
                     reader.post(f"/p/{token}", action="erase", confirm="yes"),
                     reader.http.post(f"/address/{token}")):
        assert response.status_code == 400
    assert reader.subscriber().status is Status.ACTIVE and reader.subscriber().events == []


def test_malformed_and_oversized_posts_change_nothing(reader):
    path = reader.path()
    assert reader.post(path).status_code == 400
    assert reader.post(path, action="drop-table").status_code == 400
    huge = reader.http.post(path, data={"action": "topics", "topics": "x" * 100_000})
    assert huge.status_code in (400, 413)
    assert reader.subscriber().events == [] and reader.subscriber().tag_names == ["technology", "vip"]
