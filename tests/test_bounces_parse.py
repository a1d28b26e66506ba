"""Reading bounce-mailbox messages (the corpus in tests/data/bounces), without a database."""

from __future__ import annotations

import pytest

from gbaletter.feedback.models import Kind
from gbaletter.feedback.parse import Limits, read_report
from support.bounces import CORPUS, corpus

RCPT = "mei.chan@harbour.example.net"
VERP = "bounces+12-abcdefghijklmnop@gba.example.org"
MID = "<2019-W26.AbCdEf0123.12@gba.example.org>"


def read(name: str, limits: Limits = Limits()):
    return read_report(corpus(name, verp=VERP, message_id=MID, rcpt=RCPT), limits)


@pytest.mark.parametrize(("name", "kind", "status", "rule"), [
    ("dsn-hard-user-unknown.eml", Kind.HARD_BOUNCE, "5.1.1", "bad-address"),
    ("dsn-soft-mailbox-full.eml", Kind.SOFT_BOUNCE, "5.2.2", "mailbox-full"),
    ("dsn-sender-blocked.eml", Kind.SENDER_PROBLEM, "5.7.1", "our-problem"),
    ("dsn-delayed.eml", Kind.DELAYED, "4.4.1", "action-delayed"),
    ("dsn-recipient-only.eml", Kind.HARD_BOUNCE, "5.1.1", "bad-address"),
    ("dsn-not-utf8.eml", Kind.HARD_BOUNCE, "5.1.1", "bad-address"),
    # non-standard bounces, found by flufl.bounce; the status written near the address decides
    ("exim-failed-recipients.eml", Kind.HARD_BOUNCE, "5.1.1", "bad-address"),
    ("qmail-no-mailbox.eml", Kind.HARD_BOUNCE, "5.1.1", "bad-address"),
    # no enhanced status anywhere: a detector's guess only counts as a soft bounce
    ("exchange-did-not-reach.eml", Kind.SOFT_BOUNCE, "", "detector-without-status"),
    ("sendmail-permanent-fatal.eml", Kind.SOFT_BOUNCE, "", "detector-without-status"),
    ("yahoo-webmail.eml", Kind.SOFT_BOUNCE, "", "detector-without-status"),
])
def test_each_bounce_format_names_the_recipient_and_its_verdict(name, kind, status, rule):
    report = read(name)
    assert report.kind is kind
    finding = report.worst()
    assert (finding.kind, finding.status, finding.rule) == (kind, status, rule)
    assert finding.address.lower() == RCPT
    assert VERP in report.envelope_to


def test_a_dsn_gives_its_fields_and_the_returned_message_id():
    report = read("dsn-hard-user-unknown.eml")
    finding = report.worst()
    assert report.reporting_mta == "relay.gba.example.org"
    assert finding.remote_mta == "mx.harbour.example.net"
    assert finding.diagnostic.startswith("550 5.1.1 <mei.chan@harbour.example.net>: Recipient address rejected")
    assert report.returned_message_id == MID
    assert report.arrived_at is not None and report.arrived_at.isoformat() == "2026-12-01T01:14:03+00:00"  # its Date


@pytest.mark.parametrize("name", ["exim-failed-recipients.eml", "qmail-no-mailbox.eml", "yahoo-webmail.eml"])
def test_a_bounce_that_quotes_the_message_as_text_gives_its_message_id(name):
    assert read(name).returned_message_id == MID


def test_a_feedback_report_is_a_complaint_with_the_returned_return_path():
    report = read("arf-complaint.eml")
    assert report.kind is Kind.COMPLAINT
    assert report.worst().address == RCPT and report.worst().rule == "arf-abuse"
    assert report.returned_return_path == VERP and report.returned_message_id == MID


@pytest.mark.parametrize("name", ["auto-reply-out-of-office.eml", "auto-reply-x-autoreply.eml"])
def test_automatic_replies_are_recognised(name):
    assert read(name).kind is Kind.AUTO_REPLY


def test_a_mail_to_the_unsubscribe_address_is_an_unsubscribe():
    data = corpus("unsubscribe-mailto.eml", verp="unsubscribe+7-abcdefghijklmnop@gba.example.org", rcpt=RCPT)
    assert read_report(data).kind is Kind.UNSUBSCRIBE


def test_a_message_that_is_none_of_these_is_unparsed_and_its_html_is_never_read():
    report = read("not-a-bounce.eml")
    assert report.kind is Kind.UNPARSED
    assert report.problem == "not a delivery report, complaint, auto-reply or unsubscribe"


def test_non_utf8_text_is_kept_readable_without_control_characters():
    finding = read("dsn-not-utf8.eml").worst()
    assert finding.diagnostic.startswith("550 5.1.1 Bo")
    assert "\ufffd" in finding.diagnostic and all(ch.isprintable() for ch in finding.diagnostic)


def test_a_giant_message_is_unparsed_without_being_parsed():
    data = corpus("dsn-hard-user-unknown.eml") + b"x" * 3000
    report = read_report(data, Limits(max_bytes=2000))
    assert report.kind is Kind.UNPARSED and report.problem.startswith("larger than 2,000 bytes")


def test_a_multipart_bomb_is_unparsed():
    parts = "".join(f"--B\r\nContent-Type: text/plain\r\n\r\npart {n}\r\n" for n in range(500))
    data = (f"Message-ID: <bomb@example.org>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed; boundary=B\r\n\r\n{parts}--B--\r\n").encode()
    report = read_report(data, Limits(max_parts=200))
    assert report.kind is Kind.UNPARSED and report.problem == "more than 200 MIME parts"


def test_deeply_nested_parts_are_unparsed():
    depth = 40
    head = "".join(f"--L{n}\r\nContent-Type: multipart/mixed; boundary=L{n + 1}\r\n\r\n" for n in range(depth))
    tail = "".join(f"--L{n}--\r\n" for n in reversed(range(depth + 1)))
    data = (f"Message-ID: <deep@example.org>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed; boundary=L0\r\n\r\n{head}{tail}").encode()
    report = read_report(data, Limits(max_depth=8))
    assert report.kind is Kind.UNPARSED and "nested" in report.problem


def test_a_forged_report_names_its_recipients_and_nothing_of_ours():
    report = read("dsn-forged-two-recipients.eml")
    assert [(f.kind, f.address) for f in report.findings] == [
        (Kind.HARD_BOUNCE, "ann@harbour.example.net"), (Kind.HARD_BOUNCE, "bob@harbour.example.net")]
    assert report.envelope_to == ["bounces@gba.example.org"] and report.returned_message_id == ""


def test_a_complaint_about_another_lists_message_returns_that_lists_message_id():
    report = read("arf-other-list.eml")
    assert report.kind is Kind.COMPLAINT and report.worst().address == RCPT
    assert report.returned_message_id == "<20261210.timetable.4411@lists.ferry.example.com>"
    assert report.returned_return_path == "timetable-bounces@ferry.example.com"


def test_a_failure_with_an_undefined_status_or_none_is_a_soft_bounce():
    report = read("dsn-quota-undefined-status.eml")
    assert [(f.kind, f.address, f.status, f.rule) for f in report.findings] == [
        (Kind.SOFT_BOUNCE, RCPT, "5.0.0", "undefined-status"),
        (Kind.SOFT_BOUNCE, "second.reader@tsimshatsui.example.com", "", "failed-without-status")]
    assert report.kind is Kind.SOFT_BOUNCE and report.returned_message_id == MID


def test_a_version_number_in_a_quoted_header_is_no_status():
    """`X-Mailer: gbaletter 2.0.13` and `User-Agent: Harbour Desk 5.1.4` in the returned headers
    are versions: the recipient's verdict is the detector's, without a status."""
    finding = read("sendmail-quoted-headers.eml").worst()
    assert (finding.kind, finding.status, finding.rule) == (Kind.SOFT_BOUNCE, "", "detector-without-status")


def test_the_corpus_has_every_file_this_test_module_reads():
    assert len(list(CORPUS.glob("*.eml"))) == 20
