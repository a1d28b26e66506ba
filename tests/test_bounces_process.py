"""`gbaletter bounces process` on a real Maildir and a real SQLite file: attribution, policy, idempotence."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.feedback.models import FeedbackEvent
from gbaletter.feedback.records import issue_feedback
from gbaletter.subscribers.models import Status, Subscriber
from gbaletter.subscribers.service import add_subscriber, is_suppressed, subscriber_history
from support.bounces import BOUNCES_CONFIG, corpus, deliver, make_maildir, sent_issue, wait_until
from support.workspace import TEST_SECRET

READERS = ["ann@harbour.example.net", "bob@harbour.example.net", "chan@harbour.example.net",
           "dee@harbour.example.net"]


@pytest.fixture
def desk(workspace_dir, monkeypatch):
    monkeypatch.setenv("GBALETTER_SECRET", TEST_SECRET)
    with (workspace_dir / "gbaletter.toml").open("a") as config:
        config.write(BOUNCES_CONFIG)
    ws = load_workspace(workspace_dir)
    db = open_database(ws)
    issue = sent_issue(ws, db, "2019-W26", READERS)
    return workspace_dir, db, issue, make_maildir(workspace_dir / "bounces")


def statuses(db):
    with db.reader() as session:
        return {s.email: s.status for s in session.scalars(select(Subscriber))}


def events(db):
    with db.reader() as session:
        return session.scalars(select(FeedbackEvent).order_by(FeedbackEvent.id)).all()


def test_a_hard_bounce_by_verp_bounces_exactly_that_subscriber_with_the_dsn_in_the_history(desk, run_cli):
    root, db, issue, maildir = desk
    deliver(maildir, "hard", corpus("dsn-hard-user-unknown.eml", verp=issue.verp(READERS[1]),
                                    message_id=issue.message_id(READERS[1]), rcpt=READERS[1]))
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 0, result.stderr
    assert "hard bounce 1" in result.output
    assert statuses(db) == {READERS[0]: Status.ACTIVE, READERS[1]: Status.BOUNCED,
                            READERS[2]: Status.ACTIVE, READERS[3]: Status.ACTIVE}
    with db.reader() as session:
        assert is_suppressed(session, READERS[1])
        event = subscriber_history(session, READERS[1]).events[-1]
    assert event.actor == "bounces"
    for part in ("hard bounce of issue 2019-W26", "Status 5.1.1 (bad-address)", "User unknown",
                 "reported by relay.gba.example.org", "remote MTA mx.harbour.example.net", "dated 2026-12-01 01:14"):
        assert part in event.reason
    shown = run_cli(root, "subscribers", "show", READERS[1])
    assert "Status 5.1.1 (bad-address)" in " ".join(shown.output.split())
    assert not list((maildir / "new").iterdir())
    assert len(list((maildir / ".Processed" / "cur").iterdir())) == 1


def test_running_twice_changes_nothing(desk, run_cli):
    root, db, issue, maildir = desk
    deliver(maildir, "soft", corpus("dsn-soft-mailbox-full.eml", verp=issue.verp(READERS[0]), rcpt=READERS[0]))
    assert run_cli(root, "bounces", "process").exit_code == 0
    before = [(e.kind, e.delivery_id) for e in events(db)]
    again = run_cli(root, "bounces", "process")
    assert again.exit_code == 0 and again.output.startswith("0 messages read")
    assert [(e.kind, e.delivery_id) for e in events(db)] == before == [("soft_bounce", issue.rows[READERS[0]])]


def test_a_message_read_again_after_a_crash_before_the_move_is_not_counted_twice(desk, run_cli):
    root, db, issue, maildir = desk
    data = corpus("dsn-soft-mailbox-full.eml", verp=issue.verp(READERS[0]), rcpt=READERS[0])
    deliver(maildir, "soft", data)
    assert run_cli(root, "bounces", "process").exit_code == 0
    deliver(maildir, "soft-again", data)  # as if the move had not happened
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 0 and "1 already recorded" in result.output
    assert len(events(db)) == 1


def test_without_verp_the_signed_message_id_names_the_row(desk, run_cli):
    root, db, issue, maildir = desk
    deliver(maildir, "mid", corpus("exim-failed-recipients.eml", message_id=issue.message_id(READERS[2]),
                                   rcpt=READERS[2]))
    assert run_cli(root, "bounces", "process").exit_code == 0
    assert statuses(db)[READERS[2]] == Status.BOUNCED
    assert events(db)[0].delivery_id == issue.rows[READERS[2]]


def test_without_verp_or_message_id_a_report_is_recorded_unverified_and_changes_nobody(desk, run_cli):
    root, db, issue, maildir = desk
    deliver(maildir, "rcpt", corpus("dsn-recipient-only.eml", rcpt=READERS[3]))
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 0, result.stderr
    assert "1 unverified finding: recorded, nobody changed" in result.output
    assert statuses(db)[READERS[3]] == Status.ACTIVE
    with db.reader() as session:
        assert issue_feedback(session, "2019-W26")["hard_bounce"] == 0
    assert [(e.kind, e.verified, e.delivery_id) for e in events(db)] == [
        ("hard_bounce", False, issue.rows[READERS[3]])]


def test_a_forged_dsn_to_the_plain_address_changes_nobody_and_the_next_issue_verifies(desk, run_cli):
    """A hand-written RFC 3464 report mailed to bounces@ names two subscribers: both stay active,
    both reports are listed as unverified; the next issue goes to them with its own VERP token,
    and the genuine bounce of that issue bounces the one whose address is really gone."""
    root, db, _, maildir = desk
    deliver(maildir, "forged", corpus("dsn-forged-two-recipients.eml"))
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 0, result.stderr
    assert statuses(db) == dict.fromkeys(READERS, Status.ACTIVE)
    assert [(e.kind, e.verified) for e in events(db)] == [("hard_bounce", False)] * 2
    status = " ".join(run_cli(root, "issue", "status", "2019-W26").output.split())
    assert "unverified reports: nobody changed" in status
    # dated 03:12 UTC, shown in the newsletter's zone as every command shows times
    assert "dated (Asia/Hong_Kong)" in status and status.count("2026-12-04 11:12:00") == 2
    assert "hard bounce 5.1.1" in status
    shown = " ".join(run_cli(root, "subscribers", "show", READERS[1]).output.split())
    assert "unverified reports (nobody changed" in shown and "<bob@harbour.example.net>: no such mailbox" in shown
    with db.reader() as session:
        assert issue_feedback(session, "2019-W26")["hard_bounce"] == 0
        assert not is_suppressed(session, READERS[0]) and not is_suppressed(session, READERS[1])

    following = sent_issue(load_workspace(root), db, "2019-W27", READERS)
    deliver(maildir, "genuine", corpus("dsn-hard-user-unknown.eml", verp=following.verp(READERS[1]),
                                       rcpt=READERS[1]))
    assert run_cli(root, "bounces", "process").exit_code == 0
    assert statuses(db) == {READERS[0]: Status.ACTIVE, READERS[1]: Status.BOUNCED,
                            READERS[2]: Status.ACTIVE, READERS[3]: Status.ACTIVE}
    with db.reader() as session:
        assert issue_feedback(session, "2019-W27")["hard_bounce"] == 1
        assert "hard bounce of issue 2019-W27" in subscriber_history(session, READERS[1]).events[-1].reason


def test_an_arf_report_about_another_lists_message_changes_nobody(desk, run_cli):
    root, db, _, maildir = desk
    deliver(maildir, "ferry", corpus("arf-other-list.eml", rcpt=READERS[2]))
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 0, result.stderr
    assert statuses(db) == dict.fromkeys(READERS, Status.ACTIVE)
    assert [(e.kind, e.verified) for e in events(db)] == [("complaint", False)]
    with db.reader() as session:
        assert issue_feedback(session, "2019-W26")["complaint"] == 0


def test_with_verp_off_a_complaint_about_our_signed_message_id_counts(desk, run_cli):
    root, db, issue, maildir = desk
    (root / "gbaletter.toml").write_text((root / "gbaletter.toml").read_text().replace(
        "[bounces]\n", "[bounces]\nverp = false\n"))
    deliver(maildir, "arf", corpus("arf-complaint.eml", verp="bounces@gba.example.org",
                                   message_id=issue.message_id(READERS[0]), rcpt=READERS[0]))
    assert run_cli(root, "bounces", "process").exit_code == 0
    assert statuses(db)[READERS[0]] == Status.COMPLAINED
    assert [(e.kind, e.verified) for e in events(db)] == [("complaint", True)]


@pytest.mark.parametrize(("fixture", "message_id", "says"), [
    ("dsn-soft-mailbox-full.eml", b"7QD9C4", "Status 5.2.2 (mailbox-full)"),
    # RFC 3464 Status 5.0.0: failed without saying why, a soft bounce like the others
    ("dsn-quota-undefined-status.eml", b"quota.5000", "Status 5.0.0 (undefined-status); 550 5.0.0 recipient reached"),
])
def test_soft_bounces_bounce_at_the_limit_of_issues(desk, run_cli, fixture, message_id, says):
    root, db, issue, maildir = desk
    ws = load_workspace(root)
    issues = [issue] + [sent_issue(ws, db, f"2019-W{27 + n}", READERS) for n in range(2)]
    for number, sent in enumerate(issues):
        deliver(maildir, f"soft{number}", corpus(fixture, verp=sent.verp(READERS[0]), rcpt=READERS[0])
                .replace(message_id, f"SOFT{number}".encode()))
        result = run_cli(root, "bounces", "process")
        assert result.exit_code == 0, result.stderr
        expected = Status.BOUNCED if number == 2 else Status.ACTIVE
        assert statuses(db)[READERS[0]] == expected, number
    with db.reader() as session:
        reason = subscriber_history(session, READERS[0]).events[-1].reason
    assert "rule: soft-bounces: 3 of the last 5 issues" in reason and says in reason


def test_two_soft_bounces_about_one_issue_count_once(desk, run_cli):
    root, db, issue, maildir = desk
    for n in range(3):
        deliver(maildir, f"dup{n}", corpus("dsn-soft-mailbox-full.eml", verp=issue.verp(READERS[0]),
                                           rcpt=READERS[0]).replace(b"7QD9C4", f"DUP{n}".encode()))
    assert run_cli(root, "bounces", "process").exit_code == 0
    assert statuses(db)[READERS[0]] == Status.ACTIVE
    assert [e.kind for e in events(db)] == ["soft_bounce"] * 3


def test_complaint_delayed_auto_reply_and_unsubscribe(desk, run_cli):
    root, db, issue, maildir = desk
    deliver(maildir, "arf", corpus("arf-complaint.eml", verp=issue.verp(READERS[0]), rcpt=READERS[0]))
    deliver(maildir, "late", corpus("dsn-delayed.eml", verp=issue.verp(READERS[1]), rcpt=READERS[1]))
    deliver(maildir, "ooo", corpus("auto-reply-out-of-office.eml", verp=issue.verp(READERS[2]), rcpt=READERS[2]))
    deliver(maildir, "unsub", corpus("unsubscribe-mailto.eml", verp=issue.unsubscribe_address(db, READERS[3]),
                                     rcpt=READERS[3]))
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 0, result.stderr
    assert statuses(db) == {READERS[0]: Status.COMPLAINED, READERS[1]: Status.ACTIVE,
                            READERS[2]: Status.ACTIVE, READERS[3]: Status.UNSUBSCRIBED}
    with db.reader() as session:
        assert is_suppressed(session, READERS[0]) and is_suppressed(session, READERS[3])
        counts = issue_feedback(session, "2019-W26")
    assert (counts["complaint"], counts["delayed"], counts["auto_reply"]) == (1, 1, 1)
    status = run_cli(root, "issue", "status", "2019-W26")
    assert "complaint" in status.output and "auto reply" in status.output


@pytest.mark.parametrize(("mangle", "why"), [
    (lambda verp: verp.replace("bounces+", "bounces+9"), "forged or mangled VERP token"),
    (lambda verp: verp[:-20] + "@example.org", "forged or mangled VERP token"),
])
def test_a_forged_or_mangled_verp_token_changes_nothing_and_stays(desk, run_cli, mangle, why):
    root, db, issue, maildir = desk
    path = deliver(maildir, "forged", corpus("dsn-hard-user-unknown.eml", verp=mangle(issue.verp(READERS[0])),
                                             rcpt=READERS[0]))
    deliver(maildir, "good", corpus("dsn-hard-user-unknown.eml", verp=issue.verp(READERS[1]),
                                    rcpt=READERS[1]).replace(b"4KX2B1", b"GOOD01"))
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 3
    assert result.error_lines == [f"left in the mailbox: new/{path.name}: {why} in " + mangle(issue.verp(READERS[0]))]
    assert statuses(db)[READERS[0]] == Status.ACTIVE and statuses(db)[READERS[1]] == Status.BOUNCED
    assert path.exists()


def test_a_verp_address_that_is_upper_cased_on_the_way_still_works(desk, run_cli):
    root, db, issue, maildir = desk
    deliver(maildir, "upper", corpus("dsn-hard-user-unknown.eml", verp=issue.verp(READERS[0]).upper(),
                                     rcpt=READERS[0]))
    assert run_cli(root, "bounces", "process").exit_code == 0
    assert statuses(db)[READERS[0]] == Status.BOUNCED


def test_a_forged_message_id_tag_is_refused(desk, run_cli):
    root, db, issue, maildir = desk
    forged = f"<2019-W26.AAAAAAAAAA.{issue.rows[READERS[0]]}@example.org>"
    assert forged != issue.message_id(READERS[0])
    deliver(maildir, "mid", corpus("exim-failed-recipients.eml", message_id=forged, rcpt=READERS[0]))
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 3 and "is not signed by this list" in result.stderr
    assert statuses(db)[READERS[0]] == Status.ACTIVE


def test_an_address_never_sent_an_issue_and_an_unknown_address_stay(desk, run_cli):
    root, db, _, maildir = desk
    with db.session() as session:
        add_subscriber(session, "new@harbour.example.net")
    deliver(maildir, "new", corpus("dsn-recipient-only.eml", rcpt="new@harbour.example.net"))
    deliver(maildir, "stranger", corpus("dsn-recipient-only.eml", rcpt="stranger@harbour.example.net")
            .replace(b"0001@", b"0002@"))
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 3
    assert sorted(line.split(": ", 2)[2] for line in result.error_lines) == [
        "new@harbour.example.net was never sent an issue", "stranger@harbour.example.net is not on the list"]
    assert statuses(db)["new@harbour.example.net"] == Status.ACTIVE


def test_a_dsn_for_an_erased_subscriber_is_recorded_and_changes_nobody(desk, run_cli):
    root, db, issue, maildir = desk
    verp = issue.verp(READERS[0])
    assert run_cli(root, "subscribers", "remove", READERS[0]).exit_code == 0
    deliver(maildir, "erased", corpus("dsn-hard-user-unknown.eml", verp=verp, rcpt=READERS[0]))
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 0
    assert "hard bounce for an erased subscriber: recorded, nobody changed" in result.output
    assert [(e.kind, e.subscriber_id) for e in events(db)] == [("hard_bounce", None)]


def test_giant_unparsed_and_bad_messages_stay_and_the_rest_is_processed(desk, run_cli):
    root, db, issue, maildir = desk
    with (root / "gbaletter.toml").open("a") as config:
        config.write("max_message_bytes = 5000\n")
    giant = deliver(maildir, "a-giant", b"Subject: big\r\n\r\n" + b"x" * 6000)
    html = deliver(maildir, "b-html", corpus("not-a-bounce.eml", verp=issue.verp(READERS[0])))
    deliver(maildir, "c-good", corpus("dsn-hard-user-unknown.eml", verp=issue.verp(READERS[2]), rcpt=READERS[2]))
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 3
    assert result.error_lines == [
        f"left in the mailbox: new/{giant.name}: larger than 5,000 bytes (6,016); not read",
        f"left in the mailbox: new/{html.name}: not a delivery report, complaint, auto-reply or unsubscribe"]
    assert statuses(db)[READERS[2]] == Status.BOUNCED and giant.exists() and html.exists()
    again = run_cli(root, "bounces", "process")
    assert again.exit_code == 3 and len(again.error_lines) == 2
    assert sorted(e.kind for e in events(db)) == ["hard_bounce", "unparsed", "unparsed"]  # recorded once


def test_a_mailbox_that_is_not_there_is_one_line(desk, run_cli):
    root, *_ = desk
    (root / "gbaletter.toml").write_text((root / "gbaletter.toml").read_text().replace(
        'path = "bounces"', 'path = "no-such-maildir"'))
    result = run_cli(root, "bounces", "process")
    assert result.exit_code == 1
    assert result.error_lines == [f"error: bounce mailbox {root / 'no-such-maildir'}: no such Maildir"]


def test_without_a_configured_mailbox_the_command_says_what_to_set(workspace_dir, run_cli, monkeypatch):
    monkeypatch.setenv("GBALETTER_SECRET", TEST_SECRET)
    result = run_cli(workspace_dir, "bounces", "process")
    assert result.exit_code == 1 and "set [bounces] source" in result.stderr



def test_watch_polls_the_maildir_until_interrupted(desk):
    root, db, issue, maildir = desk
    with (root / "gbaletter.toml").open("a") as config:
        config.write("poll_seconds = 0.2\n")
    deliver(maildir, "first", corpus("dsn-hard-user-unknown.eml", verp=issue.verp(READERS[1]), rcpt=READERS[1])
            .replace(b"4KX2B1", b"FIRST1"))
    process = subprocess.Popen([sys.executable, "-m", "gbaletter", "--root", str(root), "bounces", "process",
                                "--watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: statuses(db)[READERS[1]] == Status.BOUNCED, "the first run")
        deliver(maildir, "later", corpus("dsn-hard-user-unknown.eml", verp=issue.verp(READERS[0]), rcpt=READERS[0]))
        wait_until(lambda: statuses(db)[READERS[0]] == Status.BOUNCED, "the bounce to be processed")
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and err.strip() == "interrupted"
    assert out.count("hard bounce 1") == 2  # one run found the first bounce, a later poll the second


def test_watch_stops_on_sigterm_as_on_ctrl_c(desk):
    """A service manager's SIGTERM ends the watcher cleanly (its wait cut short), like Ctrl-C."""
    root, db, issue, maildir = desk
    with (root / "gbaletter.toml").open("a") as config:
        config.write("poll_seconds = 30\n")
    deliver(maildir, "first", corpus("dsn-hard-user-unknown.eml", verp=issue.verp(READERS[1]), rcpt=READERS[1]))
    process = subprocess.Popen([sys.executable, "-m", "gbaletter", "--root", str(root), "bounces", "process",
                                "--watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: statuses(db)[READERS[1]] == Status.BOUNCED, "the first run")
        time.sleep(0.5)  # waiting for the next poll, 30 s away
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)  # at once, not at the next poll
    assert process.returncode == 130 and err.strip() == "interrupted", err
    assert out.count("hard bounce 1") == 1
    assert len(list((maildir / ".Processed" / "cur").iterdir())) == 1  # moved once it was recorded
