"""The tokens a send signs per message: made by the per-issue fast paths (`Signer.maker`,
`links.preferences_urls`, `links.delivery_tokens`, `links.unsubscribe_urls`), they are exactly the tokens of before, so
the links and addresses in mail already sent keep verifying."""

import hashlib
import random

import pytest

from gbaletter.links import (DELIVERY, PREFERENCES, UNSUBSCRIBE, address_tag, delivery_tokens,
                             preferences_token, preferences_url, preferences_urls, public_url,
                             unsubscribe_url, unsubscribe_urls)
from gbaletter.tokens import BadToken, Signer

ISSUES = ["2019-W26", "special-2", "x", "é-issue", "2026.12.06", "a{0}b}{"]
EMAILS = ["a@example.org", "陳大文@例子.香港", "MiXeD@Example.ORG", "x=y z@b", ""]
NUMBERS = [*range(0, 300), 2**31, 2**40 + 1, 10**15, 10**18 - 1]


def every_token(signer):
    """The tokens a send signs, for many numbers, issues and addresses."""
    for number in NUMBERS:
        issue, email = ISSUES[number % 5], EMAILS[number % len(EMAILS)]
        yield signer.make(UNSUBSCRIBE, number, issue)
        yield signer.make(DELIVERY, number, issue)
        yield signer.make(PREFERENCES, number, signer.tag("address", email.lower()))
        yield signer.address_token("m", number)
        yield signer.address_token("b", number)
    for issue in ISSUES[:5]:
        yield signer.tag("message-id", issue)


def test_the_tokens_are_those_of_before():
    """The digest of the tokens the code wrote before they got cheaper (issue 21)."""
    signer = Signer(b"secret-secret-secret", "list-a")
    digest = hashlib.sha256("\n".join(every_token(signer)).encode()).hexdigest()
    assert digest == "815baab4c01cddecbf2d4a1edb2d03cec38a9ae6472b912f24c83c356d185468"


def test_the_send_fast_paths_make_the_tokens_make_makes(workspace):
    signer = Signer(b"secret-secret-secret", "list-a")
    preferences = preferences_urls(workspace, signer)
    for issue in ISSUES:
        unsubscribe, delivery = signer.maker(UNSUBSCRIBE, issue), delivery_tokens(signer, issue)
        unsubscribe_link = unsubscribe_urls(workspace, signer, issue)
        for number in NUMBERS:
            email = EMAILS[number % len(EMAILS)]
            assert unsubscribe(number) == signer.make(UNSUBSCRIBE, number, issue)
            assert unsubscribe_link(number) == unsubscribe_url(workspace, signer, number, issue) == public_url(
                workspace, "/u/" + signer.make(UNSUBSCRIBE, number, issue))
            assert signer.read(unsubscribe(number), UNSUBSCRIBE) == [str(number), issue]
            assert delivery(number) == signer.make(DELIVERY, number, issue)
            assert preferences(number, email) == preferences_url(workspace, signer, number, email) == public_url(
                workspace, "/p/" + signer.make(PREFERENCES, number, address_tag(signer, email)))
            assert preferences_token(signer, number, email) == signer.make(
                PREFERENCES, number, address_tag(signer, email))


def test_a_maker_refuses_what_make_refuses():
    signer = Signer(b"secret-secret-secret", "list-a")
    for purpose, after in (("u", ("2019:W26",)), ("u:x", ("2019-W26",))):
        with pytest.raises(ValueError, match="must not contain"):
            signer.maker(purpose, *after)
        with pytest.raises(ValueError, match="must not contain"):
            signer.make(purpose, 1, *after)


def test_address_tokens_read_back_as_before():
    """Any case, leading zeros: what `read_address_token` accepted before it still accepts."""
    signer, rng = Signer(b"secret-secret-secret", "list-a"), random.Random(5)
    for number in [*NUMBERS, *(rng.randrange(10**18) for _ in range(300))]:
        token = signer.address_token("b", number)
        number_text, _, mac = token.partition("-")
        for variant in (token, token.upper(), f"{number_text:0>18}-{mac}", f"{number_text}-{mac.upper()}"):
            assert signer.read_address_token(variant, "b") == number
        for forged in (f"{number + 1}-{mac}", f"{number_text}-{mac[:-1]}a" if mac[-1] != "a" else
                       f"{number_text}-{mac[:-1]}b", token + "a"):
            with pytest.raises(BadToken):
                signer.read_address_token(forged, "b")
        with pytest.raises(BadToken):
            signer.read_address_token(token, "m")
