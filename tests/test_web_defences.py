"""The subscribe form cannot be turned into a weapon: over real HTTP (uvicorn on 127.0.0.1), a real
SMTP server counting what arrives, the documented default caps (docs/security.md).

Clients on several networks come from binding the test client to other loopback addresses: all of
127.0.0.0/8 is this machine, and 127.0.N.1 is in another /24 for each N.
"""

from __future__ import annotations

import base64
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import altcha
import dkim
import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from gbaletter.config import WebSettings, load_workspace
from gbaletter.db import open_database, utcnow
from gbaletter.links import signer_for
from gbaletter.subscribers.models import Status, Subscriber
from gbaletter.subscribers.service import add_subscriber, find_subscriber
from gbaletter.web import limits
from gbaletter.web.app import create_app
from gbaletter.web.subscription import SIGN_UP_SOURCE, purge_expired_sign_ups
from support.signups import lift_caps, post_sign_up, solved_challenge
from support.smtp_server import free_port
from support.tls_cert import pem, rsa_key
from support.web_server import serving, wait_for

DEFAULTS = WebSettings()
SMALL_PROOF = "\n[web]\nproof_of_work = 2000\n"  # the default caps; a proof quick to solve in Python


class Form:
    """The app of a workspace, served; `client(address)` posts from that loopback address."""

    def __init__(self, url: str, db, mail):
        self.url, self.db, self.mail = url, db, mail
        self._clients: dict[str, httpx.Client] = {}

    def client(self, local_address: str = "127.0.0.1") -> httpx.Client:
        if local_address not in self._clients:
            self._clients[local_address] = httpx.Client(
                base_url=self.url, timeout=10,
                transport=httpx.HTTPTransport(local_address=local_address))
        return self._clients[local_address]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def received(self, expected: int, settle: float = 1.0, timeout: float = 30.0) -> list:
        """Every message received, once at least `expected` have arrived (the emails leave after
        the replies, later still on a loaded machine) and then none for `settle` seconds (so that
        one too many is seen too)."""
        deadline = time.monotonic() + timeout
        while len(self.mail.received) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        count, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < settle:
            if len(self.mail.received) != count:
                count, quiet_since = len(self.mail.received), time.monotonic()
            time.sleep(0.05)
        return list(self.mail.received)

    def stored(self) -> int:
        with self.db.reader() as session:
            return session.scalar(select(func.count()).select_from(Subscriber))


@contextmanager
def form_of(root, mail):
    ws = load_workspace(root)
    db = open_database(ws)
    with serving(create_app(ws, db), free_port()) as url:
        form = Form(url, db, mail)
        try:
            yield form
        finally:
            form.close()
    db.dispose()


@pytest.fixture
def defaults(sample_workspace, mail_env):
    """The sample workspace with the default caps."""
    lift_caps(sample_workspace, SMALL_PROOF)
    with form_of(sample_workspace, mail_env) as form:
        yield form


def test_two_hundred_sign_ups_from_one_client_get_only_the_network_cap(defaults):
    before = defaults.stored()
    client = defaults.client("127.0.0.2")
    for n in range(200):
        reply = post_sign_up(client, f"target{n}@example.net")
        assert reply.status_code == 200 and "Check your inbox" in reply.text  # every reply the same
    assert defaults.stored() - before == DEFAULTS.confirmations_per_network  # the rest never stored
    assert len(defaults.received(DEFAULTS.confirmations_per_network)) == DEFAULTS.confirmations_per_network
    # 127.0.0.3 is the same /24: capped too; 127.0.7.1 is another network and gets through
    post_sign_up(defaults.client("127.0.0.3"), "other@example.net")
    post_sign_up(defaults.client("127.0.7.1"), "elsewhere@example.net")
    capped = DEFAULTS.confirmations_per_network
    assert [r.rcpt for r in defaults.received(capped + 1)[capped:]] == ["elsewhere@example.net"]


def test_fifty_plus_address_variants_of_one_mailbox_get_only_the_mailbox_cap(defaults):
    for n in range(50):  # each from another network, so that only the mailbox cap applies
        reply = post_sign_up(defaults.client(f"127.0.{n + 10}.1"), f"victim+{n}@example.org")
        assert reply.status_code == 200 and "Check your inbox" in reply.text
    for n, dotted in enumerate(("v.i.c.t.i.m@gmail.com", "victim+a@googlemail.com", "Vic.Tim@gmail.com",
                                "victim@gmail.com")):
        post_sign_up(defaults.client(f"127.0.{n + 100}.1"), dotted)
    rcpts = [r.rcpt for r in defaults.received(2 * DEFAULTS.confirmations_per_mailbox)]
    assert len([r for r in rcpts if r.endswith("@example.org")]) == DEFAULTS.confirmations_per_mailbox
    assert len([r for r in rcpts if "mail.com" in r]) == DEFAULTS.confirmations_per_mailbox


def test_the_whole_list_has_an_hourly_cap(sample_workspace, mail_env):
    lift_caps(sample_workspace, SMALL_PROOF + "confirmations_per_hour = 7\n")
    with form_of(sample_workspace, mail_env) as form:
        for n in range(12):
            post_sign_up(form.client(f"127.0.{n + 10}.1"), f"reader{n}@example.{n}.net")
        assert len(form.received(7)) == 7


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(defaults):
    """127.0.0.1 is a trusted proxy by default: the client is its X-Forwarded-For."""
    proxy = defaults.client("127.0.0.1")
    for n in range(10):
        post_sign_up(proxy, f"proxied{n}@example.net")  # the proxy's own address, one network
    for n in range(10):
        challenge = solved_challenge(proxy)
        proxy.post("/subscribe", data={"email": f"forwarded{n}@example.net", "altcha": challenge},
                   headers={"X-Forwarded-For": f"203.0.113.{n}"})
    proxy.post("/subscribe", data={"email": "v6@example.net", "altcha": solved_challenge(proxy)},
               headers={"X-Forwarded-For": "2001:db8:1:2::7"})
    rcpts = [r.rcpt for r in defaults.received(2 * DEFAULTS.confirmations_per_network + 1)]
    assert len([r for r in rcpts if r.startswith("proxied")]) == DEFAULTS.confirmations_per_network
    assert len([r for r in rcpts if r.startswith("forwarded")]) == DEFAULTS.confirmations_per_network
    assert "v6@example.net" in rcpts


def test_network_and_mailbox_keys():
    assert limits.client_network("192.0.2.77") == "192.0.2.0/24"
    assert limits.client_network("::ffff:192.0.2.77") == "192.0.2.0/24"
    assert limits.client_network("2001:db8:1:2ff::1") == limits.client_network("2001:db8:1:200::9")
    assert limits.client_network("2001:db8:1:2ff::1") == "2001:db8:1:200::/56"
    assert limits.client_network("2001:db8:1:3ff::1") != limits.client_network("2001:db8:1:2ff::1")
    assert limits.mailbox("V.I.C.Tim+news@GoogleMail.com") == "victim@gmail.com"
    assert limits.mailbox("first.last+x@example.org") == "first.last@example.org"


def test_suppressed_addresses_get_nothing_and_the_same_page(defaults):
    with defaults.db.session() as session:
        for status in (Status.BOUNCED, Status.COMPLAINED, Status.UNSUBSCRIBED):
            add_subscriber(session, f"{status}@example.com", name="Kept", status=status)
    replies = [post_sign_up(defaults.client(f"127.0.{n + 10}.1"), f"{status}@example.com")
               for n, status in enumerate((Status.BOUNCED, Status.COMPLAINED, Status.UNSUBSCRIBED))]
    fresh = post_sign_up(defaults.client("127.0.20.1"), "fresh@example.com")
    assert {r.text.replace("fresh", "X").replace("bounced", "X").replace("complained", "X")
            .replace("unsubscribed", "X") for r in [*replies, fresh]} == {fresh.text.replace("fresh", "X")}
    assert [r.rcpt for r in defaults.received(1)] == ["fresh@example.com"]
    with defaults.db.reader() as session:
        for status in (Status.BOUNCED, Status.COMPLAINED, Status.UNSUBSCRIBED):
            assert find_subscriber(session, f"{status}@example.com").status is status


def test_a_sign_up_changes_nothing_about_an_existing_subscriber(defaults):
    with defaults.db.session() as session:
        add_subscriber(session, "ann@example.com", name="Ann", tags=["technology"])
        add_subscriber(session, "una@example.com", name="Una", tags=["policy"], status=Status.UNCONFIRMED)

    def profile(email):
        with defaults.db.reader() as session:
            s = find_subscriber(session, email)
            return (s.name, s.tag_names, s.status, s.status_changed_at, len(s.events), s.attributes)

    before = {email: profile(email) for email in ("ann@example.com", "una@example.com")}
    for n, email in enumerate(("ann@example.com", "una@example.com")):
        post_sign_up(defaults.client(f"127.0.{n + 10}.1"), email, name="Buy pills at spam.example",
                     interests=("finance", "5g"))
    assert {email: profile(email) for email in before} == before
    # the unconfirmed one gets a fresh link (still naming nothing they typed); the active one none
    [message] = [r.message for r in defaults.received(1)]
    assert message["To"] == "una@example.com"


def test_nothing_the_visitor_typed_reaches_the_inbox(defaults):
    typed = "Visit spam.example for cheap 藥"
    post_sign_up(defaults.client(), "target@example.net", name=typed, interests=("finance",))
    [received] = defaults.received(1)
    raw = received.data.decode("utf-8", "replace")
    assert "spam.example" not in raw and "Visit" not in raw and "finance" not in raw.lower()
    body = received.message.get_body(("plain",)).get_content()
    assert "spam" not in body and "target@example.net" not in body


def test_a_sign_up_without_a_valid_proof_of_work_is_refused(defaults):
    client = defaults.client()
    missing = client.post("/subscribe", data={"email": "bot@example.net"})
    forged_number = base64.b64decode(solved_challenge(client)).replace(b'"number": ', b'"number": 1')
    forged = client.post("/subscribe", data={"email": "bot@example.net",
                                              "altcha": base64.b64encode(forged_number).decode()})
    junk = client.post("/subscribe", data={"email": "bot@example.net", "altcha": "%%%not base64"})
    for reply in (missing, forged, junk):
        assert reply.status_code == 400 and "person and not a program" in reply.text
    assert defaults.stored() == 0 and defaults.received(0, settle=0.3) == []


def test_an_expired_or_foreign_challenge_is_refused(defaults, sample_workspace):
    ws = load_workspace(sample_workspace)
    key = signer_for(ws).derived_key("altcha")
    client = defaults.client()

    def solution(hmac_key, expires):
        made = altcha.create_challenge_v1(altcha.ChallengeOptionsV1(
            algorithm="SHA-256", max_number=50, hmac_key=hmac_key, expires=expires))
        found = altcha.solve_challenge_v1(made.challenge, made.salt, made.algorithm, made.max_number)
        return altcha.PayloadV1(made.algorithm, made.challenge, found.number, made.salt,
                                made.signature).to_base64()

    expired = solution(key, utcnow() - timedelta(seconds=5))
    foreign = solution(b"another list's key", utcnow() + timedelta(minutes=5))
    good = solution(key, utcnow() + timedelta(minutes=5))
    for payload in (expired, foreign):
        reply = client.post("/subscribe", data={"email": "bot@example.net", "altcha": payload})
        assert reply.status_code == 400
    assert client.post("/subscribe", data={"email": "one@example.net", "altcha": good}).status_code == 200
    # the same solution again, for another address: counted once only, so no second email
    assert client.post("/subscribe", data={"email": "two@example.net", "altcha": good}).status_code == 200
    assert [r.rcpt for r in defaults.received(1)] == ["one@example.net"]


def test_blocked_domains_get_nothing(sample_workspace, mail_env):
    (sample_workspace / "disposable.txt").write_text("# throwaway inboxes\nmailinator.example\n\n"
                                                     "tempmail.example  # and its subdomains\n")
    lift_caps(sample_workspace, SMALL_PROOF + 'blocked_domains_file = "disposable.txt"\n')
    with form_of(sample_workspace, mail_env) as form:
        for n, email in enumerate(("a@mailinator.example", "b@x.tempmail.example", "c@example.net")):
            reply = post_sign_up(form.client(f"127.0.{n + 10}.1"), email)
            assert reply.status_code == 200 and "Check your inbox" in reply.text
        assert [r.rcpt for r in form.received(1)] == ["c@example.net"] and form.stored() == 1


def test_a_missing_blocklist_is_one_clear_error(sample_workspace, mail_env, run_cli):
    lift_caps(sample_workspace, SMALL_PROOF + 'blocked_domains_file = "nowhere.txt"\n')
    result = run_cli(sample_workspace, "serve", "--port", str(free_port()))
    assert result.exit_code != 0
    assert "error: [web] blocked_domains_file nowhere.txt: cannot read" in result.stderr


def test_unconfirmed_sign_ups_are_purged_when_their_link_expires(defaults):
    now = utcnow()
    with defaults.db.session() as session:
        add_subscriber(session, "old@example.net", tags=["5g"], status=Status.UNCONFIRMED, source=SIGN_UP_SOURCE,
                             when=now - timedelta(days=8))
        add_subscriber(session, "imported@example.net", status=Status.UNCONFIRMED, source="import x.csv",
                       when=now - timedelta(days=30))
        add_subscriber(session, "recent@example.net", status=Status.UNCONFIRMED, source=SIGN_UP_SOURCE,
                       when=now - timedelta(days=6))
        add_subscriber(session, "asked.again@example.net", status=Status.UNCONFIRMED,
                       source=SIGN_UP_SOURCE, when=now - timedelta(days=8))
    post_sign_up(defaults.client(), "asked.again@example.net")  # a fresh link: kept while it works
    with defaults.db.session() as session:
        assert purge_expired_sign_ups(session, utcnow()) == 1
    with defaults.db.reader() as session:
        left = set(session.scalars(select(Subscriber.email)))
    assert left == {"imported@example.net", "recent@example.net", "asked.again@example.net"}
    post_sign_up(defaults.client("127.0.9.1"), "old@example.net")  # may sign up again
    assert {r.rcpt for r in defaults.received(2)} == {"asked.again@example.net", "old@example.net"}


def test_serve_purges_expired_sign_ups_when_it_starts(sample_workspace, mail_env):
    lift_caps(sample_workspace, SMALL_PROOF)
    ws = load_workspace(sample_workspace)
    db = open_database(ws)
    with db.session() as session:
        add_subscriber(session, "expired@example.net", status=Status.UNCONFIRMED, source=SIGN_UP_SOURCE,
                       when=utcnow() - timedelta(days=7, minutes=1))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(ws, db), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started)

        def purged() -> bool:
            with db.reader() as session:
                return find_subscriber(session, "expired@example.net") is None

        wait_for(purged)  # the purge runs beside the requests, right after the start
    finally:
        server.should_exit = True
        thread.join(10)
    db.dispose()


def test_confirmation_emails_are_dkim_signed_like_the_issues(sample_workspace, mail_env, monkeypatch):
    key = rsa_key()
    lift_caps(sample_workspace, SMALL_PROOF + '\n[dkim]\ndomain = "gba.example.org"\nselector = "news"\n')
    monkeypatch.setenv("GBALETTER_DKIM_KEY", pem(key).decode())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)

    def dns(name, timeout=5):
        assert name == b"news._domainkey.gba.example.org."
        return b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    with form_of(sample_workspace, mail_env) as form:
        post_sign_up(form.client(), "signed@example.net")
        [received] = wait_for(lambda: list(mail_env.received))
    assert dkim.verify(received.data, dnsfunc=dns)
    assert not dkim.verify(received.data.replace(b"confirm", b"c0nfirm", 1), dnsfunc=dns)
