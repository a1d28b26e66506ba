"""`gbaletter issue send` against a real SMTP server on 127.0.0.1, with faults injected."""

from __future__ import annotations


from zoneinfo import ZoneInfo

from lxml import html as lxml_html

from gbaletter.delivery import journal, leases
from gbaletter.delivery.models import State
from gbaletter.links import read_unsubscribe_address, read_verp
from gbaletter.subscribers.models import Status, Subscriber
from gbaletter.subscribers.service import set_status
from gbaletter.tokens import Signer
from support.workspace import TEST_SECRET as SECRET
from support.sending import ISSUE, rows, send
from support.smtp_server import FaultyHandler, start_server

def test_each_member_once_with_personal_values_and_list_headers(newsletter, run_cli):
    root, db, handler = newsletter
    result = send(run_cli, root)
    assert result.exit_code == 0, result.stderr
    counts = handler.counts()
    assert set(counts.values()) == {1}
    assert len(counts) == 23 and "other@example.com" not in counts and "pending@example.com" not in counts
    signer = Signer(SECRET.encode(), "weekly.gba.example.org")
    ids = set()
    for received in handler.received:
        msg = received.message
        # VERP: the return path names this message's journal row, signed
        row = read_verp(signer, received.mail_from)
        assert received.mail_from.endswith("@gba.example.org")
        assert msg["Message-ID"].endswith(f".{row}@gba.example.org>")
        assert msg["From"] == "GBA Weekly <weekly@gba.example.org>"
        assert msg["Subject"].startswith("GBA Weekly #1:")
        assert msg["Date"] and msg["MIME-Version"] == "1.0"
        assert msg["List-Id"] == "GBA Weekly <weekly.gba.example.org>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = [part.strip(" <>") for part in msg["List-Unsubscribe"].split(",")]
        assert https.startswith("https://gba.example.org/newsletter/u/")
        assert mailto.startswith("mailto:unsubscribe+") and mailto.endswith("@gba.example.org?subject=unsubscribe")
        subscriber_id, issue = signer.read(https.rsplit("/", 1)[1], "u")
        assert issue == ISSUE
        assert read_unsubscribe_address(signer, mailto[len("mailto:"):].split("?")[0]) == int(subscriber_id)
        ids.add(msg["Message-ID"])
        assert msg.get_content_type() == "multipart/alternative"
        text, page = [part.get_content() for part in msg.iter_parts()]
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert "{{" not in text and "{{" not in page
        assert f"Unsubscribe: {https}" in text
        doc = lxml_html.fromstring(page)
        assert doc.xpath('//a[normalize-space()="Unsubscribe"]')[0].get("href") == https
        assert doc.xpath('//a[normalize-space()="View in browser"]')[0].get("href") == \
            "https://gba.example.org/newsletter/archive/2019-W26"
        assert max(len(line) for line in received.data.split(b"\r\n")) <= 998
        with db.reader() as session:
            person = session.get(Subscriber, int(subscriber_id))
        assert person.email == received.rcpt
        greeting = f"Hi {person.name or 'reader'},"
        assert greeting in text and greeting in doc.text_content()
    assert len(ids) == 23


def test_chinese_name_and_quoted_name_arrive_intact(newsletter, run_cli):
    root, _, handler = newsletter
    send(run_cli, root)
    by_rcpt = {r.rcpt: r for r in handler.received}
    chan = by_rcpt["chan@example.com"]
    assert b"=?utf-8?" in chan.data.split(b"\r\n\r\n")[0]  # RFC 2047 in the header block
    assert chan.message["To"].addresses[0].display_name == "陈大文"
    assert by_rcpt["ann@example.com"].message["To"].addresses[0].display_name == 'Ann "Quotes", Jr.'


def test_second_run_resumes_and_sends_nobody_twice(newsletter, run_cli):
    root, db, handler = newsletter
    assert send(run_cli, root).exit_code == 0
    again = send(run_cli, root)
    assert again.exit_code == 0, again.stderr
    assert set(handler.counts().values()) == {1}
    assert all(state == "sent" for state, _, _ in rows(db).values())


def test_temporary_failure_is_retried_then_delivered(newsletter, run_cli):
    root, db, handler = newsletter
    handler.faults["reader3@example.org"] = ["451 4.3.0 try again later"]
    assert send(run_cli, root).exit_code == 0
    assert handler.counts()["reader3@example.org"] == 1
    assert rows(db)["reader3@example.org"][:2] == ("sent", 2)


def test_permanent_failure_bounces_and_suppresses(newsletter, run_cli):
    root, db, handler = newsletter
    handler.faults["reader4@example.org"] = ["550 5.1.1 no such mailbox"]
    assert send(run_cli, root).exit_code == 0
    assert "reader4@example.org" not in handler.counts()
    state, attempts, reply = rows(db)["reader4@example.org"]
    assert (state, attempts) == ("bounced", 1) and "550 5.1.1 no such mailbox" in reply
    with db.reader() as session:
        person = session.scalars(journal.select(Subscriber).where(
            Subscriber.email == "reader4@example.org")).one()
        assert person.status == Status.BOUNCED
    status = run_cli(root, "issue", "status", ISSUE)
    assert "bounced" in status.output and "reader4@example.org" in status.output


def test_connection_dropped_before_the_message_is_retried(newsletter, run_cli):
    root, db, handler = newsletter
    handler.faults["reader5@example.org"] = ["drop-rcpt"]
    assert send(run_cli, root).exit_code == 0
    assert handler.counts()["reader5@example.org"] == 1
    assert rows(db)["reader5@example.org"][:2] == ("sent", 2)
    assert set(handler.counts().values()) == {1}


def test_connection_dropped_after_the_message_is_uncertain_and_not_sent_again(newsletter, run_cli):
    root, db, handler = newsletter
    handler.faults["reader5@example.org"] = ["drop-data"]
    first = send(run_cli, root)
    assert first.exit_code == 3 and "reader5@example.org" in first.stderr and "--resend-uncertain" in first.stderr
    assert rows(db)["reader5@example.org"][0] == "uncertain"
    assert handler.counts()["reader5@example.org"] == 1  # the server has it, once
    assert send(run_cli, root).exit_code == 3  # a plain second run does not send it again
    assert handler.counts()["reader5@example.org"] == 1
    status = run_cli(root, "issue", "status", ISSUE)
    assert "uncertain" in status.output and "reader5@example.org" in status.output
    assert send(run_cli, root, "--resend-uncertain").exit_code == 0
    assert handler.counts()["reader5@example.org"] == 2 and rows(db)["reader5@example.org"][0] == "sent"


def test_repeated_temporary_failures_defer_until_the_next_run(newsletter, run_cli):
    root, db, handler = newsletter
    handler.faults["reader6@example.org"] = ["451 busy"] * 3
    first = send(run_cli, root)
    assert first.exit_code == 3 and "deferred" in first.stderr
    assert rows(db)["reader6@example.org"][:2] == ("deferred", 3)
    assert send(run_cli, root).exit_code == 0
    assert handler.counts()["reader6@example.org"] == 1


def test_someone_who_unsubscribes_during_a_send_is_not_mailed(newsletter, run_cli):
    root, db, handler = newsletter
    handler.faults["reader7@example.org"] = ["451 busy"] * 3
    assert send(run_cli, root).exit_code == 3
    with db.session() as session:
        set_status(session, "reader7@example.org", Status.UNSUBSCRIBED, actor="test")
    assert send(run_cli, root).exit_code == 0
    assert "reader7@example.org" not in handler.counts()
    assert rows(db)["reader7@example.org"][0] == "skipped"


def test_dry_run_sends_and_writes_nothing(newsletter, run_cli):
    root, db, handler = newsletter
    result = send(run_cli, root, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.output.startswith("dry run: 23 messages would go out now (23 members in tag:technology)")
    assert handler.received == [] and rows(db) == {}


def test_test_copy_goes_to_one_address_without_journal(newsletter, run_cli):
    root, db, handler = newsletter
    result = run_cli(root, "issue", "send", ISSUE, "--to", "Chan@Example.com")
    assert result.exit_code == 0, result.stderr
    [received] = handler.received
    assert received.rcpt == "Chan@example.com"  # the local part keeps its case; the domain does not
    assert received.message["Subject"].startswith("[TEST] GBA Weekly #1:")
    assert "Hi 陈大文," in received.message.get_body(("plain",)).get_content()
    assert rows(db) == {}


def send_with_login(run_cli, root, monkeypatch, password):
    """Send through a server that wants the login editor / right-password: (result, received)."""
    handler = FaultyHandler()
    controller = start_server(handler, credentials=("editor", "right-password"))
    try:
        monkeypatch.setenv("GBALETTER_SMTP_PORT", str(controller.port))
        monkeypatch.setenv("GBALETTER_SMTP_USERNAME", "editor")
        monkeypatch.setenv("GBALETTER_SMTP_PASSWORD", password)
        return send(run_cli, root), handler.received
    finally:
        controller.stop()


def test_wrong_password_stops_at_once_and_marks_nothing(newsletter, run_cli, monkeypatch):
    root, db, _ = newsletter
    result, received = send_with_login(run_cli, root, monkeypatch, "wrong-password")
    assert result.exit_code == 1
    assert len(result.error_lines) == 1
    assert "refused the login for 'editor'" in result.error_lines[0]
    assert received == []
    assert {state for state, _, _ in rows(db).values()} == {"queued"}


def test_right_password_works(newsletter, run_cli, monkeypatch):
    root, _, _ = newsletter
    result, received = send_with_login(run_cli, root, monkeypatch, "right-password")
    assert result.exit_code == 0 and len(received) == 23


def test_unreachable_server_stops_at_once(newsletter, run_cli, monkeypatch):
    from support.smtp_server import free_port

    root, _db, _ = newsletter
    monkeypatch.setenv("GBALETTER_SMTP_PORT", str(free_port()))
    result = send(run_cli, root)
    assert result.exit_code == 1
    assert result.error_lines[0].startswith("error: cannot reach SMTP server 127.0.0.1:")
    assert "Traceback" not in result.stderr


def test_stale_or_missing_build_is_refused(newsletter, run_cli):
    root, _db, handler = newsletter
    manifest = root / "issues" / ISSUE / "issue.yaml"
    manifest.write_text(manifest.read_text().replace("subject: ", "subject: New "))
    result = send(run_cli, root)
    assert result.exit_code == 1 and "older than its manifest" in result.stderr
    import shutil
    shutil.rmtree(root / "issues" / ISSUE / "build")
    result = send(run_cli, root)
    assert result.exit_code == 1 and "is not built" in result.stderr
    assert handler.received == []


def test_missing_secret_is_explained(newsletter, run_cli, monkeypatch):
    root, _, _ = newsletter
    monkeypatch.delenv("GBALETTER_SECRET")
    result = send(run_cli, root)
    assert result.exit_code == 1 and "set GBALETTER_SECRET" in result.stderr


def test_check_errors_gate_the_send(newsletter, run_cli):
    root, db, handler = newsletter
    template = root / "templates" / "email" / "_footer.mjml.j2"
    template.parent.mkdir(parents=True, exist_ok=True)
    template.write_text("<mj-section><mj-column><mj-text>No way out.</mj-text></mj-column></mj-section>\n")
    assert run_cli(root, "issue", "build", ISSUE).exit_code == 0
    refused = send(run_cli, root)
    assert refused.exit_code == 1 and "check error" in refused.error_lines[0]
    assert handler.received == [] and rows(db) == {}
    forced = send(run_cli, root, "--ignore-check")
    assert forced.exit_code == 0 and len(handler.received) == 23


def test_refused_sender_stops_the_send_and_loses_nobody(newsletter, run_cli):
    root, db, handler = newsletter
    handler.mail_reply = "553 5.7.1 sender not allowed"
    result = send(run_cli, root)
    assert result.exit_code == 1
    assert "refused the sender bounces@gba.example.org: 553" in result.stderr
    assert handler.received == []
    assert {state for state, _, _ in rows(db).values()} == {"queued"}
    handler.mail_reply = ""
    assert send(run_cli, root).exit_code == 0 and len(handler.received) == 23


def test_status_shows_its_times_in_the_newsletters_zone(newsletter, run_cli):
    """`issue status` dates the problems and the senders in the newsletter's zone, as every
    other command shows a time (the sample desk's is Asia/Hong_Kong, eight hours from UTC)."""
    root, db, handler = newsletter
    handler.faults["reader4@example.org"] = ["550 5.1.1 no such mailbox"]
    assert send(run_cli, root).exit_code == 0
    with db.reader() as session:
        [problem] = journal.problems(session, ISSUE, (State.BOUNCED,))
        [worker] = leases.workers(session, ISSUE)
    local = ZoneInfo("Asia/Hong_Kong")
    status = " ".join(run_cli(root, "issue", "status", ISSUE).output.split())
    assert "when (Asia/Hong_Kong)" in status and "senders (Asia/Hong_Kong)" in status and "UTC" not in status
    assert f"{problem.updated_at.astimezone(local):%Y-%m-%d %H:%M:%S} reader4@example.org" in status
    assert worker.finished_at is not None
    assert (f"{worker.started_at.astimezone(local):%Y-%m-%d %H:%M:%S} {worker.heartbeat_at.astimezone(local):%H:%M:%S}"
            f" {worker.finished_at.astimezone(local):%H:%M:%S}") in status
