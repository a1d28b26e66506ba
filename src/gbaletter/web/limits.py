"""How many confirmation emails the subscribe form may send: the caps, and their shared count.

Anyone can fill in a form with someone else's address; without caps the form mails whoever an
attacker names, as often as they like ("list bombing"). Each confirmation email is one claim,
counted under four keys, and refused when any of them is at its cap (docs/security.md):

| scope     | key                                              | cap                         | window  |
| --------- | ------------------------------------------------ | --------------------------- | ------- |
| `address` | the exact address                                | 1                           | 10 min  |
| `mailbox` | the mailbox (`mailbox`: +tags, per-domain dots)   | `confirmations_per_mailbox` | 1 hour  |
| `network` | the client's /24 (IPv4) or /56 (IPv6)            | `confirmations_per_network` | 1 hour  |
| `list`    | the whole list                                   | `confirmations_per_hour`    | 1 hour  |
| `pow`     | the proof-of-work's challenge                    | 1 (no replay)               | 1 hour  |

A cap of 0 is no cap. Keys are SHA-256 hashes; the claims live in the database (`models`), so
every server process counts the same ones. A claim is one write transaction, which takes the
list's write lock when it begins (db/engine.py): count, then insert, never raced by another
process.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from ..config import WebSettings
from ..db import Database
from .models import ConfirmationClaim

ADDRESS_INTERVAL = 10 * 60  # seconds between two confirmation emails to the same address
WINDOW = 60 * 60            # the window of every other cap
NETWORK_PREFIX = {4: 24, 6: 56}  # what one client is likely to hold: a home or office network
# Domains whose mailboxes ignore dots in the local part, and the domain each is another name of.
DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


@dataclass(frozen=True)
class Caps:
    """(cap, window in seconds) per scope; a cap of 0 is none."""

    windows: dict[str, tuple[int, int]]

    @classmethod
    def from_settings(cls, web: WebSettings) -> Caps:
        return cls({"address": (1, ADDRESS_INTERVAL), "pow": (1, WINDOW),
                    "mailbox": (web.confirmations_per_mailbox, WINDOW),
                    "network": (web.confirmations_per_network, WINDOW),
                    "list": (web.confirmations_per_hour, WINDOW)})


def mailbox(address: str) -> str:
    """The mailbox an address delivers to: lower-cased, without a +tag, and on the domains that
    ignore them, without dots (v.i.c.t.i.m+1@googlemail.com -> victim@gmail.com)."""
    local, _, domain = address.lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in DOTLESS_DOMAINS:
        local, domain = local.replace(".", ""), DOTLESS_DOMAINS[domain]
    return f"{local}@{domain}"


def client_network(host: str) -> str:
    """The network of a client address (/24 for IPv4, /56 for IPv6); an IPv4 address mapped into
    IPv6 counts as IPv4. Anything else (no address, a Unix socket) is its own key."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(ipaddress.ip_network(f"{address}/{NETWORK_PREFIX[address.version]}", strict=False))


def _key(scope: str, value: str) -> bytes:
    return hashlib.sha256(f"{scope}:{value}".encode()).digest()


def sign_up_keys(address: str, client_host: str, challenge: str = "") -> dict[str, bytes]:
    """The keys one sign-up is counted under (scope -> hash); `challenge` is its proof-of-work's."""
    keys = {"address": _key("address", address.lower()), "mailbox": _key("mailbox", mailbox(address)),
            "network": _key("network", client_network(client_host)), "list": _key("list", "")}
    if challenge:
        keys["pow"] = _key("pow", challenge)
    return keys


def claim(db: Database, keys: dict[str, bytes], caps: Caps, now: datetime) -> bytes | None:
    """Count one confirmation email under `keys`: its claim id, or None (nothing counted) when
    any key is at its cap within its window."""
    longest = max(window for _, window in caps.windows.values())
    with db.session() as session:
        session.execute(delete(ConfirmationClaim).where(
            ConfirmationClaim.claimed_at <= now - timedelta(seconds=longest)))
        for scope, key in keys.items():
            cap, window = caps.windows[scope]
            if cap and (session.scalar(select(func.count()).where(
                    ConfirmationClaim.scope == scope, ConfirmationClaim.key == key,
                    ConfirmationClaim.claimed_at > now - timedelta(seconds=window))) or 0) >= cap:
                return None
        claim_id = secrets.token_bytes(16)
        session.add_all(ConfirmationClaim(scope=scope, key=key, claim=claim_id, claimed_at=now)
                        for scope, key in keys.items())
    return claim_id


def release(db: Database, claim_id: bytes) -> None:
    """Give a claim back (its email could not be sent), so the person may try again at once."""
    with db.session() as session:
        session.execute(delete(ConfirmationClaim).where(ConfirmationClaim.claim == claim_id))
