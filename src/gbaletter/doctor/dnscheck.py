"""The DNS a bulk sender needs (Gmail's and Yahoo's rules): SPF authorizing the relay, the DKIM
selector's key, a DMARC record and policy, an MX for bounces, and From-domain alignment.

Read with dnspython from the system's resolver or the one `--nameserver` names. SPF is evaluated
here for the relay's addresses (ip4, ip6, a, mx, include, redirect, all; at most 10 lookups).
"""

from __future__ import annotations

import ipaddress
import socket
from email.utils import parseaddr

import dns.exception
import dns.resolver

from ..config import Workspace
from ..delivery.smtp import smtp_target
from ..errors import GbaletterError
from . import dnskeys
from .findings import Finding, error, ok, warning

MAX_SPF_LOOKUPS = 10  # RFC 7208 4.6.4


class DnsUnavailable(Exception):
    """The resolver did not answer (timeout, refused): nothing can be said about the record."""


def make_resolver(nameserver: str | None) -> dns.resolver.Resolver:
    """The system's resolver, or one asking only `HOST[:PORT]` (an address or a name)."""
    if not nameserver:
        return dns.resolver.Resolver()
    host, port = nameserver, 53
    if nameserver.count(":") == 1 or nameserver.startswith("["):
        host, _, port_text = nameserver.rpartition(":")
        host = host.strip("[]")
        if not port_text.isdigit():
            raise GbaletterError(f"--nameserver {nameserver}: use HOST or HOST:PORT")
        port = int(port_text)
    try:
        address = socket.getaddrinfo(host, port, proto=socket.IPPROTO_UDP)[0][4][0]
    except OSError as exc:
        raise GbaletterError(f"--nameserver {nameserver}: cannot resolve {host} ({exc})") from None
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = [str(address)], port
    resolver.lifetime = resolver.timeout = 5.0
    return resolver


def _answers(resolver: dns.resolver.Resolver, name: str, kind: str) -> list:
    try:
        return list(resolver.resolve(name, kind))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.NoResolverConfiguration) as exc:
        raise DnsUnavailable(f"no answer for {name} {kind}: {exc}") from None


def txt(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    return [b"".join(record.strings).decode("utf-8", "replace") for record in _answers(resolver, name, "TXT")]


def _addresses(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    return [r.address for kind in ("A", "AAAA") for r in _answers(resolver, name, kind)]


def spf_allows(resolver: dns.resolver.Resolver, domain: str, ip: str, lookups: list[int] | None = None) -> bool:
    """Whether `domain`'s SPF record lets `ip` send (a pass; ~all, ?all and -all do not)."""
    lookups = lookups if lookups is not None else [0]
    records = [t for t in txt(resolver, domain) if t.lower().split(" ")[0] == "v=spf1"]
    if len(records) != 1:
        return False
    address, redirect = ipaddress.ip_address(ip), ""
    for term in records[0].split()[1:]:
        qualifier = term[0] if term[0] in "+-~?" else "+"
        term = term.lstrip("+-~?").lower()
        name, _, value = term.partition(":")
        if name.startswith("redirect="):
            redirect = term.partition("=")[2]
            continue
        if name in ("a", "mx", "include"):
            lookups[0] += 1
            if lookups[0] > MAX_SPF_LOOKUPS:
                return False
        if name == "all":
            matched = True
        elif name in ("ip4", "ip6"):
            try:
                matched = address in ipaddress.ip_network(value, strict=False)
            except ValueError:  # a malformed network matches nothing (receivers call it permerror)
                matched = False
        elif name == "a":
            matched = ip in _addresses(resolver, value or domain)
        elif name == "mx":
            hosts = [str(r.exchange).rstrip(".") for r in _answers(resolver, value or domain, "MX")]
            matched = any(ip in _addresses(resolver, host) for host in hosts)
        elif name == "include":
            matched = spf_allows(resolver, value, ip, lookups)
        else:
            continue
        if matched:
            return qualifier == "+"
    return bool(redirect) and spf_allows(resolver, redirect, ip, lookups)


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2].lower().rstrip(".")


def aligned(a: str, b: str) -> bool:
    """Relaxed DMARC alignment, without a public-suffix list: the same domain, or one is a
    subdomain of the other (news.example.hk and example.hk)."""
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _relay_ips(ws: Workspace) -> tuple[str, list[str]]:
    host = smtp_target(ws.config.smtp).host
    try:
        return host, sorted({str(info[4][0]) for info in socket.getaddrinfo(host, 25, proto=socket.IPPROTO_TCP)})
    except OSError:
        return host, []


def dns_findings(ws: Workspace, nameserver: str | dns.resolver.Resolver | None) -> list[Finding]:
    """The DNS findings, asking `nameserver` (HOST[:PORT], a resolver, or None: the system's)."""
    from_domain = _domain(ws.config.newsletter.sender)
    envelope_domain = _domain(ws.config.smtp.envelope_sender) or from_domain
    try:
        resolver = nameserver if isinstance(nameserver, dns.resolver.Resolver) else make_resolver(nameserver)
        return [_spf(ws, resolver, envelope_domain), *_dkim(ws, resolver, from_domain),
                _dmarc(resolver, from_domain), _mx(resolver, envelope_domain),
                _alignment(ws, from_domain, envelope_domain)]
    except (DnsUnavailable, dns.resolver.NoResolverConfiguration) as exc:
        return [error("dns", "resolver", f"the DNS server did not answer ({exc or 'no resolver configured'})",
                      "check the resolver, or name one with --nameserver HOST[:PORT]")]


def _spf(ws: Workspace, resolver: dns.resolver.Resolver, domain: str) -> Finding:
    host, ips = _relay_ips(ws)
    if not ips:
        return error("dns", "spf", f"the relay {host} has no address to check SPF for",
                     "set [smtp] host (or GBALETTER_SMTP_HOST) to your relay")
    mechanisms = " ".join(f"ip{ipaddress.ip_address(ip).version}:{ip}" for ip in ips)
    records = [t for t in txt(resolver, domain) if t.lower().split(" ")[0] == "v=spf1"]
    if not records:
        return error("dns", "spf", f"{domain} has no SPF record",
                     f'publish {domain}. TXT "v=spf1 {mechanisms} -all"')
    if len(records) > 1:
        return error("dns", "spf", f"{domain} has {len(records)} SPF records (receivers then ignore all)",
                     "merge them into one TXT record starting v=spf1")
    refused = [ip for ip in ips if not spf_allows(resolver, domain, ip)]
    if refused:
        return error("dns", "spf", f"the SPF record of {domain} ({records[0]}) does not authorize the "
                     f"relay {host} ({', '.join(refused)})",
                     f"add {mechanisms} to it: {domain}. TXT "
                     f'"v=spf1 {mechanisms} {" ".join(records[0].split()[1:])}"')
    return ok("dns", "spf", f"SPF of {domain} authorizes the relay {host} ({', '.join(ips)})")


def _dkim(ws: Workspace, resolver: dns.resolver.Resolver, from_domain: str) -> list[Finding]:
    settings = ws.config.dkim
    if not (settings.domain and settings.selector):
        return [warning("dns", "dkim", "[dkim] is not set: gbaletter signs nothing (Gmail and Yahoo "
                        "want every bulk message DKIM-signed)",
                        f'set [dkim] domain = "{from_domain}" and selector, the private key in '
                        "GBALETTER_DKIM_KEY, and run doctor again for the record to publish")]
    name = f"{settings.selector}._domainkey.{settings.domain}"
    numbers = dnskeys.key_numbers(dnskeys.configured_key(ws))
    if numbers is None:
        return [error("dns", "dkim", "the DKIM private key is missing or not an RSA key in PEM",
                      "set GBALETTER_DKIM_KEY (or [dkim] key_file) to the PEM private key")]
    wanted = f'{name}. TXT "v=DKIM1; k=rsa; p={dnskeys.public_key_b64(*numbers)}"'
    tags = [dict(part.strip().partition("=")[::2] for part in record.split(";") if "=" in part)
            for record in txt(resolver, name)]
    keys = [t.get("p", "") for t in tags if "p" in t]
    if not keys:
        return [error("dns", "dkim", f"no DKIM key at {name}", f"publish {wanted}")]
    if not any(dnskeys.record_numbers(key) == numbers for key in keys):
        return [error("dns", "dkim", f"the DKIM key at {name} is not the configured key's",
                      f"publish {wanted} (or configure the key it belongs to)")]
    return [ok("dns", "dkim", f"the DKIM key at {name} matches the configured key")]


def _dmarc(resolver: dns.resolver.Resolver, from_domain: str) -> Finding:
    name = f"_dmarc.{from_domain}"
    records = [t for t in txt(resolver, name) if t.replace(" ", "").upper().startswith("V=DMARC1")]
    wanted = f'publish {name}. TXT "v=DMARC1; p=none; rua=mailto:dmarc@{from_domain}"'
    if not records:
        return error("dns", "dmarc", f"no DMARC record at {name} (Gmail and Yahoo require one)", wanted)
    tags = {k.strip().lower(): v.strip().lower()
            for k, _, v in (part.partition("=") for part in records[0].split(";") if "=" in part)}
    policy = tags.get("p", "")
    if policy not in ("none", "quarantine", "reject"):
        return error("dns", "dmarc", f"the DMARC record at {name} has no valid policy (p={policy or '?'})",
                     wanted)
    if policy == "none":
        return ok("dns", "dmarc", f"DMARC at {name}: p=none (reports only; enough for Gmail and Yahoo, "
                  "quarantine once the reports are clean)")
    return ok("dns", "dmarc", f"DMARC at {name}: p={policy}")


def _mx(resolver: dns.resolver.Resolver, domain: str) -> Finding:
    if not _answers(resolver, domain, "MX"):
        return error("dns", "mx", f"{domain} has no MX record: bounces to the envelope sender cannot arrive",
                     f"publish {domain}. MX 10 <the host of your bounce mailbox>.")
    return ok("dns", "mx", f"{domain} has an MX record for bounces")


def _alignment(ws: Workspace, from_domain: str, envelope_domain: str) -> Finding:
    dkim_domain = ws.config.dkim.domain.lower() if ws.config.dkim.selector else ""
    if aligned(envelope_domain, from_domain) or (dkim_domain and aligned(dkim_domain, from_domain)):
        return ok("dns", "alignment", f"the From domain {from_domain} is aligned with the "
                  + ("envelope" if aligned(envelope_domain, from_domain) else "DKIM") + " domain")
    return error("dns", "alignment", f"neither the envelope domain {envelope_domain} nor a DKIM domain "
                 f"is aligned with the From domain {from_domain}: DMARC fails",
                 f"use an envelope sender under {from_domain} ([smtp] envelope_sender), or "
                 f'[dkim] domain = "{from_domain}"')
