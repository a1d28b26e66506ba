"""`gbaletter doctor`'s relay findings against aiosmtpd with STARTTLS and a login: TLS verified as
a send verifies it, the login, and the envelope, without DATA."""

from __future__ import annotations

import ssl

import pytest
from aiosmtpd.controller import Controller

from gbaletter.config import Workspace, parse_config
from gbaletter.doctor.relay import relay_findings
from support.smtp_server import Authenticator, FaultyHandler, free_port
from support.tls_cert import self_signed

CONFIG = """
[newsletter]
sender = "大灣區週報 <weekly@gbanews.hk>"
base_url = "https://news.gbanews.hk/newsletter"
[smtp]
host = "127.0.0.1"
port = {port}
tls = "starttls"
username = "desk"
envelope_sender = "bounces@gbanews.hk"
"""


@pytest.fixture
def relay(tmp_path, monkeypatch):
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = FaultyHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True, authenticator=Authenticator("desk", "right-password"),
                            auth_required=True, ready_timeout=10)
    controller.start()
    for name in ("GBALETTER_SMTP_HOST", "GBALETTER_SMTP_PORT", "GBALETTER_SMTP_TLS", "GBALETTER_SMTP_CAFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GBALETTER_SMTP_PASSWORD", "right-password")
    yield Workspace(tmp_path, parse_config(CONFIG.format(port=controller.port))), handler, cert
    controller.stop()


def _found(ws):  # type: ignore[no-untyped-def]
    return {f.check: (f.status, f.message) for f in relay_findings(ws)}


def test_a_relay_with_a_certificate_this_machine_does_not_trust_is_an_error(relay):
    ws, handler, _ = relay
    status, message = _found(ws)["connect"]
    assert status == "error" and message.endswith("TLS certificate not trusted (self-signed certificate)")
    assert handler.received == []


def test_a_trusted_relay_with_the_right_login_takes_the_envelope(relay, monkeypatch):
    ws, handler, cert = relay
    monkeypatch.setenv("GBALETTER_SMTP_CAFILE", str(cert))
    found = _found(ws)
    assert found["connect"] == ("ok", f"connected to 127.0.0.1:{ws.config.smtp.port}, TLS certificate "
                                      "verified, logged in as desk")
    assert found["envelope"] == ("ok", "the relay takes MAIL FROM:<bounces@gbanews.hk> and "
                                       "RCPT TO:<weekly@gbanews.hk> (nothing sent)")
    assert handler.received == []


def test_a_wrong_password_is_an_error(relay, monkeypatch):
    ws, _, cert = relay
    monkeypatch.setenv("GBALETTER_SMTP_CAFILE", str(cert))
    monkeypatch.setenv("GBALETTER_SMTP_PASSWORD", "wrong")
    status, message = _found(ws)["connect"]
    assert status == "error" and message.startswith(
        f"SMTP server 127.0.0.1:{ws.config.smtp.port} refused the login for 'desk'")


def test_no_tls_to_a_relay_elsewhere_is_an_error(tmp_path, monkeypatch):
    for name in ("GBALETTER_SMTP_HOST", "GBALETTER_SMTP_PORT", "GBALETTER_SMTP_TLS"):
        monkeypatch.delenv(name, raising=False)
    ws = Workspace(tmp_path, parse_config(CONFIG.format(port=free_port())
                                          .replace('tls = "starttls"', 'tls = "none"')
                                          .replace('username = "desk"', 'username = ""')
                                          .replace('host = "127.0.0.1"', 'host = "192.0.2.1"')
                                          + "timeout = 1\n"))
    found = {f.check: f for f in relay_findings(ws)}
    assert found["tls"].status == "error" and found["tls"].fix == 'set [smtp] tls = "starttls" (or "tls")'
    assert found["connect"].status == "error"
