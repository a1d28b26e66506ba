"""The fast address check agrees with email-validator's full check on every kind of address."""

from __future__ import annotations

import itertools
import random

import email_validator
import pytest
from email_validator import EmailNotValidError, validate_email

from gbaletter.subscribers.addresses import AddressValidator, InvalidAddress, email_hash, plain_domain

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


def _hostile_domains() -> list[str]:
    """Domains near every edge of `plain_domain`: odd characters, hyphens and dots in each place,
    Punycode, special-use names above and below, labels and totals around their limits."""
    rng = random.Random(22)
    alphabet = "abz09-.-.A_ü例\u00ad\u200b\u2024\uff0e ·"
    found = [*DOMAINS, "company7.com.hk", "com", "test", "x.test", "local.com", "localx.com", "a.local", "x.y.onion",
             "arpa.hk", "in-addr.arpa", "a.b.invalid", "localhost.com", "home.arpa", "ab--cd.com",
             "xn--abc.com", "a-b.c-d.org", "a--b.org", "1.com", "a.1com", "com1.a", "a.b-", "a.-b"]
    found += [name + tail for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
              for tail in ("", ".com", "x.com")] + [
        f"x.{name}" for name in email_validator.SPECIAL_USE_DOMAIN_NAMES]
    for _ in range(3000):
        found.append("".join(rng.choices(alphabet, k=rng.randint(1, 16))))
    for _ in range(1000):
        labels = [_label(rng) for _ in range(rng.randint(1, 6))]
        found.append(".".join([*labels, rng.choice(("com", "hk", "c0m", "x"))]))
    for size in range(248, 256):  # whole domains around the length limits, labels of 62 or 63
        label = "a" * 62
        found.append((label + ".") * (size // 63) + "b" * (size % 63 or 1))
    return found


def _label(rng: random.Random) -> str:
    """Letters and digits, 1 to 64 of them, with a hyphen in some place or two now and then."""
    letters = rng.choices("ab9", k=rng.choice((1, 2, 3, 5, 9, 62, 63, 64)))
    for _ in range(rng.choice((0, 0, 1, 2))):
        letters[rng.randrange(len(letters))] = "-"
    return "".join(letters)


def test_a_plain_domain_is_one_the_full_check_accepts_unchanged():
    domains = _hostile_domains()
    plain = [domain for domain in domains if plain_domain(domain)]
    assert "company7.com.hk" in plain and "a-b.c-d.org" in plain and len(plain) > 200
    for domain in plain:
        checked = validate_email(f"x@{domain}", check_deliverability=False)
        assert checked.domain == checked.ascii_domain == domain, domain
    for domain in ("EXAMPLE.ORG", "xn--abc.com", "ab--cd.com", "a.local", "x.y.onion", "a.1com",
                   "a" * 64 + ".com", "Bücher.example", "exa mple.com", "example.com."):
        assert not plain_domain(domain), domain


@pytest.mark.parametrize("local", ["a", "Chan.TaiMan", "x+tag", "a" * 64, "a" * 65, "postmaster",
                                   "用户", '"quoted"', "a..b"])
def test_addresses_at_hostile_domains_get_the_full_checks_verdict(local):
    validator = AddressValidator()
    for domain in _hostile_domains():
        address = f"{local}@{domain}"
        assert _verdict(validator, address) == _reference(address), address
