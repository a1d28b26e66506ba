"""TLS verification on by default, DKIM signatures that cover the one-click headers."""

from __future__ import annotations

import base64
import ssl

import dkim
import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization

from support.sending import send
from support.smtp_server import FaultyHandler, free_port
from support.tls_cert import pem, rsa_key, self_signed


@pytest.fixture
def starttls_server(tmp_path):
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = FaultyHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True, ready_timeout=10)
    controller.start()
    yield handler, controller.port, cert
    controller.stop()


def test_untrusted_certificate_is_refused(newsletter, run_cli, starttls_server, monkeypatch):
    root, _db, _ = newsletter
    handler, port, _ = starttls_server
    monkeypatch.setenv("GBALETTER_SMTP_PORT", str(port))
    monkeypatch.setenv("GBALETTER_SMTP_TLS", "starttls")
    result = send(run_cli, root)
    assert result.exit_code == 1
    assert "TLS certificate not trusted" in result.error_lines[-1]
    assert handler.received == []


def test_trusted_private_ca_works(newsletter, run_cli, starttls_server, monkeypatch):
    root, _db, _ = newsletter
    handler, port, cert = starttls_server
    monkeypatch.setenv("GBALETTER_SMTP_PORT", str(port))
    monkeypatch.setenv("GBALETTER_SMTP_TLS", "starttls")
    monkeypatch.setenv("GBALETTER_SMTP_CAFILE", str(cert))
    result = send(run_cli, root)
    assert result.exit_code == 0, result.stderr
    assert len(handler.received) == 23


def test_dkim_signature_verifies_and_covers_list_unsubscribe_post(newsletter, run_cli, monkeypatch):
    root, _db, handler = newsletter
    key = rsa_key()
    config = root / "gbaletter.toml"
    config.write_text(config.read_text() + '\n[dkim]\ndomain = "gba.example.org"\nselector = "news"\n')
    monkeypatch.setenv("GBALETTER_DKIM_KEY", pem(key).decode())
    assert run_cli(root, "issue", "build", "2019-W26").exit_code == 0  # config is an input
    assert send(run_cli, root).exit_code == 0
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name, timeout=5):
        assert name == b"news._domainkey.gba.example.org."
        return record

    for received in handler.received[:3]:
        assert dkim.verify(received.data, dnsfunc=dns), received.rcpt
        signature = received.message["DKIM-Signature"]
        signed = {h.strip().lower() for h in signature.split("h=")[1].split(";")[0].replace("\r\n", "").split(":")}
        assert {"from", "to", "subject", "date", "message-id", "list-unsubscribe",
                "list-unsubscribe-post"} <= signed
    tampered = handler.received[0].data.replace(b"Continue reading", b"Continue leading", 1)
    assert tampered != handler.received[0].data
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_missing_dkim_key_is_explained(newsletter, run_cli, monkeypatch):
    root, _, _ = newsletter
    config = root / "gbaletter.toml"
    config.write_text(config.read_text() + '\n[dkim]\ndomain = "gba.example.org"\nselector = "news"\n')
    monkeypatch.delenv("GBALETTER_DKIM_KEY", raising=False)
    assert run_cli(root, "issue", "build", "2019-W26").exit_code == 0
    result = send(run_cli, root)
    assert result.exit_code == 1 and "set GBALETTER_DKIM_KEY" in result.stderr
