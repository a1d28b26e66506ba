"""`gbaletter doctor` against a real authoritative DNS server (Knot, on 127.0.0.1), a real SMTP
server (aiosmtpd) and a real HTTPS server: a setup that passes, and one zone failing each finding."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.knot import knot_server, txt_value
from support.tls_cert import pem, rsa_key, self_signed

from gbaletter.config import Workspace, parse_config
from gbaletter.doctor.dnscheck import dns_findings, make_resolver
from gbaletter.doctor.dnskeys import key_numbers, public_key_b64

KEY = rsa_key()
OTHER_KEY = rsa_key()
STRONG_SECRET = "kJ8v2Qw9Zp4Xr7Lm1Nb6Tc3Yh5Gd0Fs8Ae2Ui4Oo"


def _dkim_record(key) -> str:  # type: ignore[no-untyped-def]
    return txt_value(f"v=DKIM1; k=rsa; p={public_key_b64(*key_numbers(pem(key)))}")


def _zone(spf: str | None = '"v=spf1 ip4:127.0.0.1 -all"', dkim: str | None = "key",
          dmarc: str | None = '"v=DMARC1; p=quarantine; rua=mailto:dmarc@gbanews.hk"',
          mx: bool = True) -> list[str]:
    records = ["mail A 127.0.0.1"]
    records += ["@ MX 10 mail"] if mx else []
    records += [f"@ TXT {spf}"] if spf else []
    records += [f"weekly._domainkey TXT {_dkim_record(OTHER_KEY if dkim == 'other' else KEY)}"] if dkim else []
    records += [f"_dmarc TXT {dmarc}"] if dmarc else []
    return records


ZONES = {
    "gbanews.hk": [*_zone(), '_spf TXT "v=spf1 a:mail.gbanews.hk -all"'],
    "included.hk": _zone(spf='"v=spf1 include:_spf.gbanews.hk ~all"'),
    "sloppyspf.hk": _zone(spf='"v=spf1 ip4:not-an-address mx -all"'),  # the malformed term is skipped
    "nospf.hk": _zone(spf=None),
    "wrongspf.hk": _zone(spf='"v=spf1 ip4:192.0.2.1 ~all"'),
    "nodkim.hk": _zone(dkim=None),
    "otherkey.hk": _zone(dkim="other"),
    "nodmarc.hk": _zone(dmarc=None),
    "nonedmarc.hk": _zone(dmarc='"v=DMARC1; p=none"'),
    "badpolicy.hk": _zone(dmarc='"v=DMARC1; p=maybe"'),
    "nomx.hk": _zone(mx=False),
}


@pytest.fixture(scope="module")
def nameserver(tmp_path_factory):
    with knot_server(tmp_path_factory.mktemp("knot"), ZONES) as port:
        yield f"127.0.0.1:{port}"


def _config(domain: str, envelope: str = "", smtp_port: int = 25, base_url: str = "") -> str:
    return f"""
[newsletter]
name = "大灣區週報"
sender = "大灣區週報 <weekly@{domain}>"
base_url = "{base_url or f'https://news.{domain}/newsletter'}"
postal_address = "18/F Harbour Centre, 25 Harbour Road, Wan Chai"
list_id = "weekly.{domain}"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
envelope_sender = "{envelope or f'bounces@{domain}'}"
[dkim]
domain = "{domain}"
selector = "weekly"
"""


def _dns(tmp_path: Path, nameserver: str, domain: str, envelope: str = "") -> dict[str, tuple[str, str, str]]:
    ws = Workspace(tmp_path, parse_config(_config(domain, envelope)))
    return {f.check: (f.status, f.message, f.fix) for f in dns_findings(ws, make_resolver(nameserver))}


@pytest.fixture(autouse=True)
def dkim_key(monkeypatch):
    monkeypatch.setenv("GBALETTER_DKIM_KEY", pem(KEY).decode())
    monkeypatch.delenv("GBALETTER_SMTP_HOST", raising=False)


@pytest.mark.parametrize("domain", ["gbanews.hk", "included.hk", "nonedmarc.hk", "sloppyspf.hk"])
def test_a_domain_set_up_right_passes_every_dns_check(tmp_path, nameserver, domain):
    found = _dns(tmp_path, nameserver, domain)
    assert {check: status for check, (status, _, _) in found.items()} == {
        "spf": "ok", "dkim": "ok", "dmarc": "ok", "mx": "ok", "alignment": "ok"}, found


def test_each_dns_finding_fails_with_the_record_to_publish(tmp_path, nameserver):
    wanted_key = public_key_b64(*key_numbers(pem(KEY)))
    assert _dns(tmp_path, nameserver, "nospf.hk")["spf"] == (
        "error", "nospf.hk has no SPF record", 'publish nospf.hk. TXT "v=spf1 ip4:127.0.0.1 -all"')
    status, message, fix = _dns(tmp_path, nameserver, "wrongspf.hk")["spf"]
    assert status == "error" and "does not authorize the relay 127.0.0.1" in message
    assert fix == 'add ip4:127.0.0.1 to it: wrongspf.hk. TXT "v=spf1 ip4:127.0.0.1 ip4:192.0.2.1 ~all"'
    assert _dns(tmp_path, nameserver, "nodkim.hk")["dkim"] == (
        "error", "no DKIM key at weekly._domainkey.nodkim.hk",
        f'publish weekly._domainkey.nodkim.hk. TXT "v=DKIM1; k=rsa; p={wanted_key}"')
    status, message, fix = _dns(tmp_path, nameserver, "otherkey.hk")["dkim"]
    assert (status, message) == ("error", "the DKIM key at weekly._domainkey.otherkey.hk is not the "
                                          "configured key's")
    assert wanted_key in fix
    assert _dns(tmp_path, nameserver, "nodmarc.hk")["dmarc"] == (
        "error", "no DMARC record at _dmarc.nodmarc.hk (Gmail and Yahoo require one)",
        'publish _dmarc.nodmarc.hk. TXT "v=DMARC1; p=none; rua=mailto:dmarc@nodmarc.hk"')
    assert _dns(tmp_path, nameserver, "badpolicy.hk")["dmarc"][:2] == (
        "error", "the DMARC record at _dmarc.badpolicy.hk has no valid policy (p=maybe)")
    assert _dns(tmp_path, nameserver, "nomx.hk")["mx"] == (
        "error", "nomx.hk has no MX record: bounces to the envelope sender cannot arrive",
        "publish nomx.hk. MX 10 <the host of your bounce mailbox>.")


def test_alignment_fails_when_neither_envelope_nor_dkim_is_the_from_domain(tmp_path, nameserver):
    ws = Workspace(tmp_path, parse_config(_config("gbanews.hk", "bounces@included.hk")
                                          .replace('domain = "gbanews.hk"', 'domain = "included.hk"')))
    found = {f.check: f for f in dns_findings(ws, make_resolver(nameserver))}
    assert found["alignment"].status == "error"
    assert found["alignment"].message == ("neither the envelope domain included.hk nor a DKIM domain is "
                                          "aligned with the From domain gbanews.hk: DMARC fails")


def test_a_dns_server_that_does_not_answer_is_one_finding(tmp_path):
    from support.daemons import free_port

    ws = Workspace(tmp_path, parse_config(_config("gbanews.hk")))
    resolver = make_resolver(f"127.0.0.1:{free_port()}")
    resolver.lifetime = resolver.timeout = 1.0
    [finding] = dns_findings(ws, resolver)
    assert (finding.check, finding.status) == ("resolver", "error")


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path.endswith("/healthz")
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}' if ok else b"{}")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def https_site(tmp_path):
    cert, key = self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/newsletter", cert
    server.shutdown()
    server.server_close()


def _doctor(run_cli, root, nameserver, env):  # type: ignore[no-untyped-def]
    result = run_cli(root, "doctor", "--nameserver", nameserver, "--json", env=env)
    return result, {f["check"]: f for f in json.loads(result.output)["findings"]}


def test_doctor_passes_a_workspace_that_can_send(tmp_path, nameserver, mail_server, https_site,
                                                 run_cli, monkeypatch):
    handler, port = mail_server
    base_url, cert = https_site
    root = tmp_path / "ws"
    (root / "bounces" / "new").mkdir(parents=True)
    (root / "bounces" / "cur").mkdir()
    (root / "bounces" / "tmp").mkdir()
    (root / "gbaletter.toml").write_text(_config("gbanews.hk", smtp_port=port, base_url=base_url)
                                         + '[bounces]\nsource = "maildir"\npath = "bounces"\n')
    monkeypatch.setenv("GBALETTER_SECRET", STRONG_SECRET)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    result, found = _doctor(run_cli, root, nameserver, None)
    assert result.exit_code == 0, result.output
    assert {check: f["status"] for check, f in found.items()} == {
        "secret": "ok", "settings": "ok", "connect": "ok", "envelope": "ok", "spf": "ok", "dkim": "ok",
        "dmarc": "ok", "mx": "ok", "alignment": "ok", "healthz": "ok", "mailbox": "ok"}
    assert handler.received == []  # MAIL FROM and RCPT TO only, never DATA
    terminal = run_cli(root, "doctor", "--nameserver", nameserver)
    assert terminal.exit_code == 0 and terminal.output.endswith("0 errors, 0 warnings: ready to send\n")
    assert len(terminal.output.splitlines()) == len(found) + 1


def test_doctor_names_what_stops_a_send(tmp_path, nameserver, mail_server, https_site, run_cli, monkeypatch):
    handler, port = mail_server
    handler.rcpt_reply = "550 5.7.1 relaying denied"
    base_url, _ = https_site  # its certificate is not trusted here
    root = tmp_path / "ws"
    root.mkdir()
    (root / "gbaletter.toml").write_text(_config("nospf.hk", smtp_port=port, base_url=base_url)
                                         .replace("18/F Harbour Centre, 25 Harbour Road, Wan Chai",
                                                  "1 Example Road, Hong Kong"))
    monkeypatch.setenv("GBALETTER_SECRET", "short-but-16-chars")
    result, found = _doctor(run_cli, root, nameserver, None)
    assert result.exit_code == 1
    assert found["placeholder"]["message"] == ("[newsletter] postal_address = '1 Example Road, Hong Kong' "
                                               "is the sample's address")
    assert found["secret"]["status"] == "error" and "weak" in found["secret"]["message"]
    assert found["envelope"]["message"] == ("the relay refused RCPT TO:<weekly@nospf.hk>: 550 5.7.1 "
                                            "relaying denied")
    assert found["spf"]["fix"] == 'publish nospf.hk. TXT "v=spf1 ip4:127.0.0.1 -all"'
    assert found["healthz"]["message"].endswith("/newsletter/healthz: TLS certificate not trusted")
    assert found["mailbox"]["status"] == "warning"
    monkeypatch.setenv("GBALETTER_SMTP_PORT", "1")  # nothing listens there
    _, unreachable = _doctor(run_cli, root, nameserver, None)
    assert unreachable["connect"]["status"] == "error"
    assert unreachable["connect"]["message"].startswith("cannot reach SMTP server 127.0.0.1:1")
