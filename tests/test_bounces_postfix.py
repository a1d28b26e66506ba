"""A real Postfix relays an issue, bounces the unknown mailboxes with its own DSNs, and
`gbaletter bounces process` bounces exactly those subscribers."""

from __future__ import annotations

import email
import smtplib

import pytest

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.links import read_verp, signer_for
from gbaletter.subscribers.models import Status
from gbaletter.subscribers.service import add_subscriber, subscriber_history
from support.bounces import corpus
from support.postfix import DOMAIN, postfix_relay
from support.workspace import TEST_SECRET

ISSUE = "2019-W26"
EXISTING = ["alice", "carol"]
MISSING = ["bob", "dan"]


@pytest.fixture
def relay():
    with postfix_relay(EXISTING) as running:
        yield running


def forged_report() -> bytes:
    """A hand-written delivery report naming two readers whose mailboxes exist, for the plain
    bounce address: no VERP token, no message of ours returned."""
    return (corpus("dsn-forged-two-recipients.eml").replace(b"ann@harbour.example.net", f"alice@{DOMAIN}".encode())
            .replace(b"bob@harbour.example.net", f"carol@{DOMAIN}".encode())
            .replace(b"bounces@gba.example.org", f"bounces@{DOMAIN}".encode()))


@pytest.mark.parametrize("verp", [True, False], ids=["verp", "signed-message-id"])
def test_postfix_dsns_bounce_exactly_the_missing_mailboxes(sample_workspace, relay, run_cli, monkeypatch, verp):
    """With VERP the DSNs name the rows by their return path; without it (`verp = false`), by the
    signed Message-ID in the headers Postfix returns. Either way a forged report to the plain
    bounce address changes nobody."""
    root = sample_workspace
    config = (root / "gbaletter.toml").read_text()
    config = config.replace('envelope_sender = "bounces@gba.example.org"', f'envelope_sender = "bounces@{DOMAIN}"')
    (root / "gbaletter.toml").write_text(
        config + f'\n[bounces]\nverp = {str(verp).lower()}\nsource = "maildir"\npath = "{relay.maildir("bounces")}"\n')
    for name, value in {"SECRET": TEST_SECRET, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(relay.port),
                        "SMTP_TLS": "none"}.items():
        monkeypatch.setenv(f"GBALETTER_{name}", value)
    assert run_cli(root, "issue", "build", ISSUE).exit_code == 0
    ws = load_workspace(root)
    db = open_database(ws)
    with db.session() as session:
        for name in EXISTING + MISSING:
            add_subscriber(session, f"{name}@{DOMAIN}", tags=["technology"])
    sent = run_cli(root, "issue", "send", ISSUE, "--segment", "tag:technology")
    assert sent.exit_code == 0, sent.stderr

    dsns = relay.wait_for("bounces", len(MISSING))
    for box in EXISTING:
        relay.wait_for(box, 1)
    for path in dsns:  # Postfix's own DSN, returned to this message's VERP address (or the plain one)
        dsn = email.message_from_bytes(path.read_bytes())
        assert dsn.get_content_type() == "multipart/report"
        assert (read_verp(signer_for(ws), dsn["Delivered-To"]) is not None) is verp
    with smtplib.SMTP("127.0.0.1", relay.port) as client:  # anyone may mail the plain bounce address
        client.sendmail(f"prankster@{DOMAIN}", [f"bounces@{DOMAIN}"], forged_report())
    relay.wait_for("bounces", len(MISSING) + 1)

    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 0, result.stderr
    assert "hard bounce 2" in result.output and "unverified hard bounce 1" in result.output
    with db.reader() as session:
        status = {name: subscriber_history(session, f"{name}@{DOMAIN}").subscriber.status
                  for name in EXISTING + MISSING}
        reason = subscriber_history(session, f"bob@{DOMAIN}").events[-1].reason
    assert status == {"alice": Status.ACTIVE, "carol": Status.ACTIVE, "bob": Status.BOUNCED, "dan": Status.BOUNCED}
    assert f"hard bounce of issue {ISSUE}; Status 5.1.1 (bad-address)" in reason
    assert f"reported by relay.{DOMAIN}" in reason and "unknown user" in reason
    assert not list((relay.maildir("bounces") / "new").iterdir())

    again = run_cli(root, "bounces", "process")
    assert again.exit_code == 0 and again.output.startswith("0 messages read")
    status_output = run_cli(root, "issue", "status", ISSUE).output
    assert "hard bounce" in status_output
