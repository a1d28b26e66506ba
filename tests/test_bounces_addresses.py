"""VERP and mailto addresses (gbaletter.links) and the [bounces] settings."""

from __future__ import annotations

import pytest

from gbaletter.config import load_workspace, parse_config
from gbaletter.errors import GbaletterError
from gbaletter.links import (MailAddresses, read_message_id, read_unsubscribe_address, read_verp,
                             signer_for)
from gbaletter.tokens import BadToken
from support.workspace import TEST_SECRET


@pytest.fixture
def addresses(workspace, monkeypatch):
    monkeypatch.setenv("GBALETTER_SECRET", TEST_SECRET)
    return MailAddresses(workspace, signer_for(workspace)), signer_for(workspace)


def test_a_verp_address_names_its_row_is_short_and_survives_any_case(addresses):
    made, signer = addresses
    address = made.bounce(123456)
    local = address.split("@")[0]
    assert address.endswith("@example.org") and local.startswith("bounces+123456-") and len(local) <= 40
    assert local == local.lower()
    for variant in (address, address.upper(), f"Bounces <{address}>"):
        assert read_verp(signer, variant) == 123456


@pytest.mark.parametrize("tamper", [
    lambda a: a.replace("bounces+123456-", "bounces+123457-"),
    lambda a: a.replace("-", "-a", 1),
    lambda a: a.split("-")[0] + "@example.org",
])
def test_a_tampered_verp_address_is_refused(addresses, tamper):
    made, signer = addresses
    with pytest.raises(BadToken):
        read_verp(signer, tamper(made.bounce(123456)))


def test_tokens_of_one_purpose_are_worthless_for_the_other(addresses):
    made, signer = addresses
    unsubscribe = made.unsubscribe(42)
    assert read_unsubscribe_address(signer, unsubscribe) == 42
    token = unsubscribe.split("+")[1]
    with pytest.raises(BadToken):
        read_verp(signer, f"bounces+{token}")
    assert read_verp(signer, "editors@example.org") is None


def test_without_verp_every_message_has_the_plain_return_path(workspace_dir, monkeypatch):
    monkeypatch.setenv("GBALETTER_SECRET", TEST_SECRET)
    with (workspace_dir / "gbaletter.toml").open("a") as config:
        config.write("\n[bounces]\nverp = false\n")
    ws = load_workspace(workspace_dir)
    assert MailAddresses(ws, signer_for(ws)).bounce(7) == "bounces@example.org"


def test_our_message_ids_are_read_back_and_a_wrong_tag_refused(addresses, workspace):
    _, signer = addresses
    tag = signer.tag("message-id", "2019-W26")
    assert read_message_id(signer, f"<2019-W26.{tag}.17@example.org>") == ("2019-W26", 17)
    assert read_message_id(signer, "<CAFE1234@mail.example.com>") is None
    with pytest.raises(BadToken):
        read_message_id(signer, "<2019-W26.AAAAAAAAAA.17@example.org>")


@pytest.mark.parametrize(("text", "message"), [
    ('[bounces]\nsource = "pop3"\n', "'source' must be maildir or imap"),
    ('[bounces]\nsource = "maildir"\n', "needs 'path'"),
    ('[bounces]\nsource = "imap"\nhost = "imap.example.org"\n', "needs 'host' and 'user'"),
    ('[bounces]\npassword = "secret"\n', "'password' must not be stored in the file"),
    ('[bounces]\nverp = "yes"\n', "'verp' must be true or false"),
    ('[bounces]\nsoft_bounce_limit = 6\n', "cannot be more than 'soft_bounce_issues'"),
    ('[bounces]\nsoft_bounces = 3\n', "unknown key 'soft_bounces'"),
])
def test_bad_bounces_settings_are_one_clear_line(text, message):
    with pytest.raises(GbaletterError, match=message):
        parse_config(text)
