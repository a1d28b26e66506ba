"""`gbaletter bounces process` against a real Dovecot over IMAPS (certificate verified)."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys

import pytest
from imapclient import IMAPClient
from sqlalchemy import select

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.subscribers.models import Status, Subscriber
from support.bounces import corpus, sent_issue, wait_until
from support.dovecot import PASSWORD, USER, dovecot_server
from support.workspace import TEST_SECRET

READERS = ["ann@harbour.example.net", "bob@harbour.example.net"]


@pytest.fixture
def desk(workspace_dir, monkeypatch):
    monkeypatch.setenv("GBALETTER_SECRET", TEST_SECRET)
    ws = load_workspace(workspace_dir)
    db = open_database(ws)
    issue = sent_issue(ws, db, "2019-W26", READERS)
    messages = {
        "hard": corpus("dsn-hard-user-unknown.eml", verp=issue.verp(READERS[1]), rcpt=READERS[1]),
        "ooo": corpus("auto-reply-out-of-office.eml", verp=issue.verp(READERS[0]), rcpt=READERS[0]),
        "odd": corpus("not-a-bounce.eml"),
    }
    with dovecot_server(messages) as imap:
        with (workspace_dir / "gbaletter.toml").open("a") as config:
            config.write(f'\n[bounces]\nsource = "imap"\nhost = "127.0.0.1"\nport = {imap.port}\nuser = "{USER}"\n')
        monkeypatch.setenv("GBALETTER_BOUNCES_CAFILE", str(imap.cafile))
        monkeypatch.setenv("GBALETTER_BOUNCES_PASSWORD", PASSWORD)
        yield workspace_dir, db, imap, issue



def statuses(db):
    with db.reader() as session:
        return {s.email: s.status for s in session.scalars(select(Subscriber))}


def test_imap_messages_are_processed_moved_and_the_unknown_one_stays(desk, run_cli):
    root, db, imap, _ = desk
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 3, result.stderr
    assert "auto reply 1" in result.output and "hard bounce 1" in result.output
    assert len(result.error_lines) == 1 and "not a delivery report" in result.error_lines[0]
    assert statuses(db) == {READERS[0]: Status.ACTIVE, READERS[1]: Status.BOUNCED}
    processed = imap.maildir / ".Processed"
    assert len(list((processed / "cur").iterdir()) + list((processed / "new").iterdir())) == 2
    again = run_cli(root, "bounces", "process")
    assert again.exit_code == 3 and again.output.startswith("1 message read: unparsed 1")


def test_a_wrong_imap_password_is_one_line_and_changes_nothing(desk, run_cli, monkeypatch):
    root, db, imap, _ = desk
    monkeypatch.setenv("GBALETTER_BOUNCES_PASSWORD", "wrong")
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 1
    assert len(result.error_lines) == 1
    assert result.error_lines[0].startswith(f"error: IMAP server 127.0.0.1:{imap.port} refused the login for 'bounces'")
    assert set(statuses(db).values()) == {Status.ACTIVE}


def test_an_untrusted_certificate_is_refused(desk, run_cli, monkeypatch):
    root, _, imap, _ = desk
    monkeypatch.delenv("GBALETTER_BOUNCES_CAFILE")
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 1
    assert result.error_lines == [f"error: IMAP server 127.0.0.1:{imap.port}: TLS certificate not trusted "
                                  "(self-signed certificate)"]


def test_no_password_in_the_environment_says_which_variable(desk, run_cli, monkeypatch):
    root, *_ = desk
    monkeypatch.delenv("GBALETTER_BOUNCES_PASSWORD")
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 1 and "set GBALETTER_BOUNCES_PASSWORD" in result.stderr


def test_watch_waits_with_idle_and_processes_what_arrives(desk):
    root, db, imap, issue = desk
    process = subprocess.Popen([sys.executable, "-m", "gbaletter", "--root", str(root), "bounces", "process",
                                "--watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: statuses(db)[READERS[1]] == Status.BOUNCED, "the first run")
        # appended while the watcher waits in IDLE (or just before: the server reports it at IDLE)
        context = ssl.create_default_context(cafile=str(imap.cafile))
        with IMAPClient("127.0.0.1", imap.port, ssl=True, ssl_context=context) as client:
            client.login(USER, PASSWORD)
            client.append("INBOX", corpus("dsn-hard-user-unknown.eml", verp=issue.verp(READERS[0]), rcpt=READERS[0])
                          .replace(b"4KX2B1", b"IDLE01"))
        wait_until(lambda: statuses(db)[READERS[0]] == Status.BOUNCED, "the appended bounce")
        # a later run (after IDLE woke it) found it and moved it: both bounces are in Processed
        processed = imap.maildir / ".Processed"
        wait_until(lambda: len(list((processed / "cur").iterdir()) + list((processed / "new").iterdir())) == 3,
                   "the appended bounce moved to Processed")
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert out.startswith("2 messages read") or out.startswith("3 messages read"), out
