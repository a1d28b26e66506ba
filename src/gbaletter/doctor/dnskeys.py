"""The DKIM public key that belongs to the configured private key, as a DNS record writes it.

dkimpy parses both keys (RSA); the public key is written out as DER SubjectPublicKeyInfo, the
form of a DKIM record's `p=` tag (RFC 6376 3.6.1), so `doctor` can print the exact record.
"""

from __future__ import annotations

import base64
import os

from ..config import Workspace

_RSA_ALGORITHM = bytes.fromhex("06092a864886f70d010101") + b"\x05\x00"  # rsaEncryption, NULL


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _der_integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def public_key_b64(modulus: int, exponent: int) -> str:
    """`p=` of a DKIM record for this RSA key."""
    rsa_key = _der(0x30, _der_integer(modulus) + _der_integer(exponent))
    spki = _der(0x30, _der(0x30, _RSA_ALGORITHM) + _der(0x03, b"\x00" + rsa_key))
    return base64.b64encode(spki).decode("ascii")


def configured_key(ws: Workspace) -> bytes:
    """The DKIM private key as the sender reads it (GBALETTER_DKIM_KEY, else [dkim] key_file);
    empty when there is none or it cannot be read."""
    key = os.environ.get("GBALETTER_DKIM_KEY", "").encode()
    if not key and ws.config.dkim.key_file:
        try:
            key = (ws.root / ws.config.dkim.key_file).read_bytes()
        except OSError:
            return b""
    return key


def key_numbers(private_pem: bytes) -> tuple[int, int] | None:
    """(modulus, public exponent) of an RSA private key in PEM, or None if it is not one."""
    from dkim.crypto import UnparsableKeyError, parse_pem_private_key

    try:
        key = parse_pem_private_key(private_pem)
    except (UnparsableKeyError, ValueError, IndexError):
        return None
    return key["modulus"], key["publicExponent"]


def record_numbers(p_value: str) -> tuple[int, int] | None:
    """(modulus, exponent) of a DKIM record's `p=`, or None if it is not an RSA key."""
    from dkim.crypto import UnparsableKeyError, parse_public_key

    try:
        key = parse_public_key(base64.b64decode("".join(p_value.split()), validate=True))
    except (UnparsableKeyError, ValueError, IndexError):
        return None
    return key["modulus"], key["publicExponent"]
