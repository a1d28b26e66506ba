"""Internationalized addresses (RFC 6531): imported, sent where the server offers SMTPUTF8, and
refused with a clear reason where it does not."""

from __future__ import annotations

import email
import email.policy

from support.sending import rows, send
from support.smtp_server import FaultyHandler, start_server

ADDRESS = "用户@例子.广告"


def test_an_internationalized_address_is_failed_without_smtputf8_then_sent_with_it(newsletter, run_cli,
                                                                                  monkeypatch):
    root, db, handler = newsletter
    added = run_cli(root, "subscribers", "add", ADDRESS, "--name", "李小明", "--tag", "technology")
    assert added.exit_code == 0, added.stderr
    first = send(run_cli, root)  # the test server does not offer SMTPUTF8
    assert first.exit_code == 0
    assert "could not be sent as they are" in first.stderr and "--retry-failed" in first.stderr
    state, _, reply = rows(db)[ADDRESS]
    assert state == "failed" and "needs SMTPUTF8" in reply
    status = run_cli(root, "issue", "status", "2019-W26")
    assert ADDRESS in status.output and "SMTPUTF8" in status.output
    assert ADDRESS not in handler.counts()

    utf8_handler = FaultyHandler(pipelining=handler.pipelining)
    controller = start_server(utf8_handler, smtputf8=True)
    try:
        monkeypatch.setenv("GBALETTER_SMTP_PORT", str(controller.port))
        assert send(run_cli, root).exit_code == 0
        assert utf8_handler.received == []  # failed rows wait for --retry-failed
        retried = send(run_cli, root, "--retry-failed")
        assert retried.exit_code == 0, retried.stderr
    finally:
        controller.stop()
    assert [r.rcpt for r in utf8_handler.received] == [ADDRESS]
    assert rows(db)[ADDRESS][0] == "sent"
    message = email.message_from_bytes(utf8_handler.received[0].data, policy=email.policy.SMTPUTF8)
    assert ADDRESS in str(message["To"]) and "李小明" in str(message["To"])
