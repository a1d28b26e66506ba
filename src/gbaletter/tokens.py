"""Signed tokens for every link a subscriber can click (unsubscribe, confirm).

A token is `payload.mac`, both base64url: the payload holds the purpose, the ids it names and an
optional expiry; the MAC is HMAC-SHA256 keyed by the secret from `GBALETTER_SECRET` and the list id,
so a token made for one list, purpose or secret is worthless for another. Tokens carry ids, never
addresses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable

from .errors import GbaletterError
from .translations import N_

SECRET_ENV = "GBALETTER_SECRET"
MAC_BYTES = 16
_MAC_CHARACTERS = -(-MAC_BYTES * 4 // 3)  # a MAC's base64 without its padding: 22 characters
ADDRESS_MAC_BYTES = 10  # 80 bits: each guess at a forged address token costs the forger a mail
_ADDRESS_TOKEN = re.compile(r"([0-9]{1,18})-([a-z2-7]{16})")


class BadToken(GbaletterError):
    """Forged, tampered, expired or meant for something else."""


def secret_from_env() -> bytes:
    value = os.environ.get(SECRET_ENV, "")
    if len(value) < 16:
        raise GbaletterError(f"set {SECRET_ENV} to a random secret of at least 16 characters "
                             "(it signs unsubscribe and confirmation links)")
    return value.encode()


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    """base64url without padding (`base64.urlsafe_b64encode`'s alphabet, in one C call less;
    b2a_base64's newline dropped with the padding: its keyword argument costs more)."""
    return binascii.b2a_base64(data).translate(_URLSAFE).rstrip(b"=\n").decode("ascii")


_B32_LOWER = "abcdefghijklmnopqrstuvwxyz234567"
# every pair of base32 digits, by the 10 bits they encode (as base64.b32encode has them)
_B32_PAIRS = tuple(a + b for a in _B32_LOWER for b in _B32_LOWER)


def _b32_lower(mac: bytes) -> str:
    """RFC 4648 base32 in lower case of an address MAC (ADDRESS_MAC_BYTES, 10: 16 digits, no
    padding): what `base64.b32encode(mac).lower()` gives, without its pure-Python loop (two a
    message sent): the 80 bits as eight pairs of digits, ten bits each, unrolled (a loop over
    them costs a third more)."""
    number, pairs = int.from_bytes(mac, "big"), _B32_PAIRS
    return (pairs[number >> 70] + pairs[number >> 60 & 1023] + pairs[number >> 50 & 1023]
            + pairs[number >> 40 & 1023] + pairs[number >> 30 & 1023] + pairs[number >> 20 & 1023]
            + pairs[number >> 10 & 1023] + pairs[number & 1023])


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# RFC 2104's inner and outer paddings of an HMAC key, as translation tables (as the hmac module has them)
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class Signer:
    def __init__(self, secret: bytes, list_id: str):
        self._key = hmac.new(secret, b"list:" + list_id.encode(), hashlib.sha256).digest()
        # HMAC-SHA256 with the key's two padded blocks hashed once: a MAC is then two copies of
        # these states and two hash compressions, where hmac.digest sets the key up anew (two
        # compressions more, and OpenSSL 3 looking the digest up by name): 1.5 -> 0.6 us, and a
        # send signs six tokens a message. The same MAC, byte for byte (tests/test_message.py).
        block = self._key.ljust(hashlib.sha256().block_size, b"\0")
        self._inner = hashlib.sha256(block.translate(_IPAD))
        self._outer = hashlib.sha256(block.translate(_OPAD))

    def _mac(self, payload: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:MAC_BYTES]

    def tag(self, *fields: str | int) -> str:
        """A short stable tag that only this secret and list produce for `fields` (10 characters)."""
        return _b64(self._mac(":".join(map(str, fields)).encode()))[:10]

    def derived_key(self, purpose: str) -> bytes:
        """A 32-byte key of this secret and list for another scheme's own MACs (the proof-of-work's
        challenges): knowing it tells nothing about the tokens' key."""
        return hmac.new(self._key, b"key:" + purpose.encode(), hashlib.sha256).digest()

    def address_token(self, purpose: str, number: int) -> str:
        """A token for `number` that fits the local part of an address and survives an MTA that
        lower-cases it: '<number>-<MAC>', the MAC in lower-case base32 (no case to lose)."""
        mac = self._mac(f"address:{purpose}:{number}".encode())
        return f"{number}-{_b32_lower(mac[:ADDRESS_MAC_BYTES])}"

    def read_address_token(self, token: str, purpose: str) -> int:
        """The number in a valid address token for `purpose` (any case); BadToken otherwise."""
        match = _ADDRESS_TOKEN.fullmatch(token.lower())
        # the MAC compared alone: the number may be written with leading zeros
        if match is None or not hmac.compare_digest(
                match.group(2), self.address_token(purpose, int(match.group(1))).rpartition("-")[2]):
            raise BadToken(f"address token {token[:40]!r} is forged or mangled")
        return int(match.group(1))

    def make(self, purpose: str, *fields: str | int, max_age: int | None = None) -> str:
        """A token for `purpose` carrying `fields` (no ':' inside), valid `max_age` seconds or forever."""
        expires = str(int(time.time()) + max_age) if max_age else ""
        text = ":".join([purpose, *map(str, fields), expires])
        if text.count(":") != len(fields) + 1:
            raise ValueError("token fields must not contain ':'")
        return self._token(text.encode())

    def maker(self, purpose: str, *after: str, fields: int = 1) -> Callable[..., str]:
        """`make(purpose, *its_fields, *after)` as a function of its `fields` first fields
        (numbers, or tags: no ':' inside), for the tokens a send signs for every message: `after`
        (the issue) is checked and laid out once, so a token is one `str.format` and `_token`
        (~1.6 us against `make`'s ~2.0, of which the MAC is ~0.6). The same tokens, byte for
        byte (tests/test_tokens.py)."""
        if any(":" in field for field in (purpose, *after)):
            raise ValueError("token fields must not contain ':'")
        kept = [text.replace("{", "{{").replace("}", "}}") for text in (purpose, *after)]
        layout = ":".join([kept[0], *["{}"] * fields, *kept[1:], ""]).format
        token = self._token

        def token_of(*values: int | str) -> str:
            return token(layout(*values).encode())

        return token_of

    def _token(self, payload: bytes) -> str:
        """`payload.mac`: both halves base64url without padding, made URL-safe at once."""
        # b2a_base64's newline dropped with the padding, as in `_b64`
        encoded = (binascii.b2a_base64(payload).rstrip(b"=\n") + b"."
                   + binascii.b2a_base64(self._mac(payload))[:_MAC_CHARACTERS])
        return encoded.translate(_URLSAFE).decode("ascii")

    def read(self, token: str, purpose: str) -> list[str]:
        """The fields of a valid token for `purpose`; BadToken otherwise."""
        try:
            encoded, mac = token.split(".")
            payload = _unb64(encoded)
            valid = hmac.compare_digest(_unb64(mac), self._mac(payload))
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise BadToken(N_("this link is not valid (it may have been copied incompletely)"))
        kind, *fields, expires = payload.decode().split(":")
        if kind != purpose:
            raise BadToken(N_("this link is not meant for this page"))
        if expires and int(expires) < time.time():
            raise BadToken(N_("this link has expired"))
        return fields
