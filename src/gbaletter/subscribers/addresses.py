"""Checking and normalizing email addresses, fast enough for a million-row import.

email-validator checks the syntax (never DNS here). A full call costs ~57 us, two thirds of it in
the domain (IDNA rules), so `AddressValidator` validates each distinct domain once and each
address's local part with the library's own dot-atom rule; anything out of the ordinary (quotes,
non-ASCII local parts, reserved mailbox names, very long addresses) goes through the full call.
A domain of plain lower-case ASCII labels (`plain_domain`) is accepted without the library's
call, whose Unicode checks cost ~25 us a domain (half a second for an import's 20,000 company
domains); every other domain gets the full call. The result is the same as `validate_email` for
every address (tested).
"""

from __future__ import annotations

import hashlib
import re

import email_validator
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import (CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT,
                                           EMAIL_MAX_LENGTH)

from ..errors import GbaletterError

# Trimmed around an address: spaces and tabs only. A CR or LF is never trimmed away: it makes the
# address invalid, so that nothing can smuggle a header line into a message.
_TRIM = " \t"
_RESERVED_MAILBOXES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
# Labels of lower-case letters and digits with single hyphens inside (so no `xn--` Punycode and
# none of RFC 5890's reserved `ab--` labels), at least two of them, the last of letters only.
_PLAIN_DOMAIN = re.compile(r"(?:[a-z0-9]+(?:-[a-z0-9]+)*\.)+[a-z]+\Z")
_LABEL_MAX_LENGTH = 63  # RFC 1035
# The longest domain `x@domain` still fits in an address (email-validator's own limits: 253 for
# the domain, 254 for the address).
_PLAIN_DOMAIN_MAX_LENGTH = EMAIL_MAX_LENGTH - len("x@")


class InvalidAddress(GbaletterError):
    """An address that is not valid; `str()` says why."""


def email_hash(normalized: str) -> bytes:
    """The key of an address in the list and in the suppression list: SHA-256 of the lower-cased form."""
    return hashlib.sha256(normalized.lower().encode("utf-8")).digest()


def plain_domain(domain: str) -> bool:
    """Whether email-validator would accept `domain` (after the @ of an address of up to 254
    characters) and give it back unchanged: lower-case ASCII hostname labels within the
    lengths, and neither a special-use name (`.local`, `.invalid`, `.onion`...) nor under one.
    False says nothing: such a domain needs the full check."""
    if len(domain) > _PLAIN_DOMAIN_MAX_LENGTH or not _PLAIN_DOMAIN.match(domain):
        return False
    labels = domain.split(".")
    if max(map(len, labels)) > _LABEL_MAX_LENGTH:
        return False
    special = email_validator.SPECIAL_USE_DOMAIN_NAMES  # read each time: a caller may add to it
    return not any(".".join(labels[i:]) in special for i in range(len(labels)))


def _full_check(address: str) -> str:
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidAddress(f"invalid address {address!r}: {exc}") from None


def _checked_domain(domain: str) -> tuple[str, int] | InvalidAddress:
    """The domain by the full check: its normalized form and the longest UTF-8 length of its
    forms (typed, normalized, ASCII), or why it is not valid."""
    try:
        checked = validate_email(f"x@{domain}", check_deliverability=False)
    except EmailNotValidError as exc:
        return InvalidAddress(str(exc))
    forms = (domain, checked.domain, checked.ascii_domain)
    return checked.domain, max(len(form.encode("utf-8")) for form in forms)


class AddressValidator:
    """Normalizes addresses (trimmed, domain lower-cased), remembering each domain's verdict."""

    def __init__(self) -> None:
        # domain as typed -> (normalized domain, longest UTF-8 length of its forms) or the error.
        self._domains: dict[str, tuple[str, int] | InvalidAddress] = {}

    def _new_domain(self, domain: str) -> tuple[str, int] | InvalidAddress:
        """The verdict on a domain not seen before, remembered."""
        known = (domain, len(domain)) if plain_domain(domain) else _checked_domain(domain)
        self._domains[domain] = known
        return known

    def normalize(self, address: str) -> str:
        """The normalized address, or `InvalidAddress` naming the address and the reason."""
        address = address.strip(_TRIM)
        local, at, domain = address.rpartition("@")
        if at and len(local) <= 64 and DOT_ATOM_TEXT.match(local) \
                and local.lower() not in _RESERVED_MAILBOXES:
            # the cache looked up here, not in a call: this runs for every address of an import
            verdict = self._domains.get(domain) or self._new_domain(domain)
            if isinstance(verdict, InvalidAddress):
                raise InvalidAddress(f"invalid address {address!r}: {verdict}")
            normalized_domain, longest = verdict
            if len(local) + 1 + longest <= EMAIL_MAX_LENGTH:
                return f"{local}@{normalized_domain}"
        return _full_check(address)


def normalize_address(address: str) -> str:
    """One address, normalized (see `AddressValidator`)."""
    return _full_check(address.strip(_TRIM))
