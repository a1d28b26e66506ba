"""The fast address check agrees with email-validator's full check on every kind of address."""

from __future__ import annotations

import itertools

import pytest
from email_validator import EmailNotValidError, validate_email

from gbaletter.subscribers.addresses import AddressValidator, InvalidAddress, email_hash

LOCAL_PARTS = ["a", "Chan.TaiMan", "x+tag", "o'neil", "a..b", ".a", "a.", "", "has space",
               "quo\"te", "\"quoted\"", "postmaster", "Info", "用户", "ü", "a" * 64, "a" * 65,
               "a@b", "tab\tx", "new\nline", "cr\rx", "semi;colon", "(comment)a", "#!$%&'*+-/=?^_`{|}~"]
DOMAINS = ["example.com", "EXAMPLE.ORG", "gmail.com", "b", "localhost", "example", "sub.example.co.uk",
           "例子.广告", "xn--fsqu00a.xn--3lr804guic", "Bücher.example", "-bad.example.com",
           "bad-.example.com", "under_score.com", "1.2.3.4", "[1.2.3.4]", "example.test",
           "example.invalid", "a" * 63 + ".com", "a" * 64 + ".com", ("a" * 60 + ".") * 4 + "com",
           "", "exa mple.com", "example..com", ".example.com", "example.com."]


def _reference(address: str) -> str | None:
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


@pytest.mark.parametrize("local", LOCAL_PARTS)
def test_same_verdict_and_form_as_email_validator(local):
    validator = AddressValidator()
    for domain in DOMAINS:
        address = f"{local}@{domain}"
        try:
            ours = validator.normalize(address)
        except InvalidAddress:
            ours = None
        assert ours == _reference(address), address


def test_the_domain_cache_does_not_change_verdicts():
    validator = AddressValidator()
    addresses = [f"{local}@{domain}" for local, domain in itertools.product(LOCAL_PARTS, DOMAINS)]
    first = [_verdict(validator, a) for a in addresses]
    assert [_verdict(validator, a) for a in reversed(addresses)] == first[::-1]


def _verdict(validator: AddressValidator, address: str) -> str | None:
    try:
        return validator.normalize(address)
    except InvalidAddress:
        return None


def test_spaces_and_tabs_around_are_trimmed_but_not_line_breaks():
    validator = AddressValidator()
    assert validator.normalize(" \tMei@Example.COM \t") == "Mei@example.com"
    for address in ("mei@example.com\n", "mei@example.com\r\n", "\nmei@example.com"):
        with pytest.raises(InvalidAddress):
            validator.normalize(address)


def test_the_hash_ignores_case():
    assert email_hash("Mei@example.com") == email_hash("mei@EXAMPLE.com")
    assert len(email_hash("mei@example.com")) == 32
