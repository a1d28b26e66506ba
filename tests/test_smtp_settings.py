"""SMTP settings from gbaletter.toml and the environment; the demo's smtp-sink."""

from __future__ import annotations

import mailbox
import os
import smtplib
import socket
import subprocess
import sys
import time

import pytest

from gbaletter.config import SmtpSettings
from gbaletter.delivery.smtp import smtp_target
from gbaletter.errors import GbaletterError
from support.smtp_server import free_port


def test_environment_overrides_each_key():
    target = smtp_target(SmtpSettings(host="mail.example.org", port=587, tls="starttls", username="a"),
                         {"GBALETTER_SMTP_HOST": "relay.example.org", "GBALETTER_SMTP_PORT": "2525",
                          "GBALETTER_SMTP_TLS": "tls", "GBALETTER_SMTP_USERNAME": "editor",
                          "GBALETTER_SMTP_PASSWORD": "s3cret"})
    assert (target.host, target.port, target.tls, target.username, target.password) == (
        "relay.example.org", 2525, "tls", "editor", "s3cret")


def test_file_settings_and_verification_defaults():
    target = smtp_target(SmtpSettings(), {})
    assert (target.host, target.port, target.tls, target.username, target.password) == (
        "localhost", 587, "starttls", "", "")


@pytest.mark.parametrize("env, message", [
    ({"GBALETTER_SMTP_PORT": "twenty-five"}, "GBALETTER_SMTP_PORT must be a port number"),
    ({"GBALETTER_SMTP_TLS": "ssl"}, "GBALETTER_SMTP_TLS must be starttls, tls or none"),
    ({"GBALETTER_SMTP_USERNAME": "editor"}, "needs GBALETTER_SMTP_PASSWORD in the environment"),
])
def test_bad_environment_is_named(env, message):
    with pytest.raises(GbaletterError, match=message):
        smtp_target(SmtpSettings(), env)


def test_smtp_sink_stores_what_it_receives(tmp_path, workspace_dir):
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-m", "gbaletter", "--root", str(workspace_dir),
                             "smtp-sink", "--port", str(port), "--maildir", str(tmp_path / "mail")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail("a@example.org", ["b@example.org"], b"Subject: hi\r\n\r\nbody\r\n")
    finally:
        sink.terminate()
        out, _err = sink.communicate(timeout=10)
    assert f"listening on 127.0.0.1:{port}" in out
    [message] = list(mailbox.Maildir(str(tmp_path / "mail"), create=False))
    assert message["Subject"] == "hi" and message["Delivered-To"] == "b@example.org"
    assert message["Return-Path"] == "<a@example.org>"


def test_smtp_sink_port_in_use_is_one_line(tmp_path, workspace_dir, run_cli):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(workspace_dir, "smtp-sink", "--port", str(port), "--maildir", str(tmp_path / "m"))
    assert result.exit_code == 1 and result.error_lines[0].startswith(f"error: cannot listen on 127.0.0.1:{port}")


@pytest.mark.parametrize("offered", [True, False])
def test_pipelining_is_used_when_the_server_offers_it(offered):
    import asyncio

    from gbaletter.delivery.smtp import SmtpTarget, open_connection
    from gbaletter.delivery.writer import Claim
    from support.smtp_server import FaultyHandler, start_server

    handler = FaultyHandler(pipelining=offered)
    server = start_server(handler)
    target = SmtpTarget(host="127.0.0.1", port=server.port, tls="none", username="", password="",
                        timeout=10)

    async def send_two() -> bool:
        connection = await open_connection(target)
        try:
            for n in range(2):
                claim = Claim()
                claim.settle(True)
                await connection.send(b"from@example.org", f"to{n}@example.org",
                                      [b"Subject: x\r\n\r\n", b"body\r\n.\r\n"], claim)
            return connection.pipeline is not None
        finally:
            connection.close()

    try:
        assert asyncio.run(send_two()) is offered
    finally:
        server.stop()
    assert sorted(handler.counts()) == ["to0@example.org", "to1@example.org"]


@pytest.mark.parametrize("offered", [True, False])
def test_a_message_goes_out_only_once_its_claim_committed_and_never_after_a_refused_one(offered):
    """The journal's `sending` must be durable before the message is handed over: the commands
    may go out meanwhile (pipelining), the message waits; a claim that fails sends nothing."""
    import asyncio

    from gbaletter.delivery.smtp import SmtpTarget, open_connection
    from gbaletter.delivery.writer import Claim
    from support.smtp_server import FaultyHandler, start_server

    handler = FaultyHandler(pipelining=offered)
    server = start_server(handler)
    target = SmtpTarget(host="127.0.0.1", port=server.port, tls="none", username="", password="",
                        timeout=10)
    message = [b"Subject: x\r\n\r\n", b"body\r\n.\r\n"]

    async def send_after(claim: Claim, address: str, ok: bool) -> str | None:
        connection = await open_connection(target)
        try:
            sending = asyncio.ensure_future(connection.send(b"from@example.org", address, message, claim))
            await asyncio.sleep(0.3)
            assert not sending.done() and address not in handler.counts()
            claim.settle(ok)
            return await sending
        finally:
            connection.close()

    try:
        assert asyncio.run(send_after(Claim(), "to0@example.org", True))
        assert asyncio.run(send_after(Claim(), "to1@example.org", False)) is None
        time.sleep(0.3)
    finally:
        server.stop()
    assert sorted(handler.counts()) == ["to0@example.org"]


def test_a_claim_that_commits_late_leaves_the_message_its_whole_time():
    """The transaction's time limit starts again when the message goes out: a claim that took
    longer than the limit to commit (the journal's writer waiting for the database's lock) must
    not turn a message the server took into a lost, 'uncertain' one."""
    import asyncio

    from gbaletter.delivery.smtp import SmtpTarget, open_connection
    from gbaletter.delivery.writer import Claim
    from support.smtp_server import FaultyHandler, start_server

    handler = FaultyHandler(pipelining=True)
    server = start_server(handler)
    target = SmtpTarget(host="127.0.0.1", port=server.port, tls="none", username="", password="",
                        timeout=1)

    async def claim_committed_late() -> str | None:
        connection = await open_connection(target)
        try:
            claim = Claim()
            sending = asyncio.ensure_future(connection.send(
                b"from@example.org", "late@example.org",
                [b"Subject: x\r\n\r\n", b"body\r\n.\r\n"], claim))
            await asyncio.sleep(0.2)
            time.sleep(1.3)  # the event loop blocked past the limit, as a commit waiting for a lock does
            claim.settle(True)
            return await sending
        finally:
            connection.close()

    try:
        assert asyncio.run(claim_committed_late())
    finally:
        server.stop()
    assert sorted(handler.counts()) == ["late@example.org"]


def test_a_failing_claim_callback_leaves_no_other_claim_unsettled():
    """The journal writer settles every claim of a committed batch even when one connection's
    callback raises (then raises that): the other sends would otherwise wait for ever."""
    from gbaletter.delivery.writer import Claim, _Change, _settle_all
    from gbaletter.delivery.models import State

    claims = [Claim() for _ in range(3)]

    def broken() -> None:
        raise RuntimeError("a connection's callback failed")

    claims[0].then(broken)
    batch = [_Change(key=n, subscriber_id=n, state=State.SENDING, claim=claim) for n, claim in enumerate(claims)]
    with pytest.raises(RuntimeError, match="callback failed"):
        _settle_all(batch, [True, True, False])
    assert [claim.ok for claim in claims] == [True, True, False]
