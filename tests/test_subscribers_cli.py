"""`gbaletter subscribers ...` by hand: add, show, list, tag, unsubscribe, resubscribe, remove."""

from __future__ import annotations

import json

import pytest

from support.subscriber_helpers import ok


def _add(run_cli, root, *args):  # type: ignore[no-untyped-def]
    return run_cli(root, "subscribers", "add", *args)


def test_add_then_show_with_history(workspace_dir, run_cli):
    assert ok(_add(run_cli, workspace_dir, " Mei@Example.COM ", "--name", "Mei Leung", "--tag",
                   "Technology", "--attr", "lang=zh", "--attr", "city=Shenzhen", "--source",
                   "signup form")) == "added Mei@example.com (active)\n"
    ok(run_cli(workspace_dir, "subscribers", "unsubscribe", "mei@example.com", "--reason",
               "asked by phone"))
    shown = ok(run_cli(workspace_dir, "subscribers", "show", "MEI@example.com"))
    lines = shown.splitlines()
    assert lines[0] == "email       Mei@example.com"
    assert lines[1] == "name        Mei Leung"
    assert lines[2].startswith("status      unsubscribed since ")
    assert lines[3] == "language    en"
    assert lines[4] == "paused      no"
    assert lines[5] == "tags        technology"
    assert lines[6] == "attributes  city=Shenzhen, lang=zh"
    assert lines[7].endswith("(signup form)")
    assert lines[8].startswith("suppressed  yes, unsubscribed since ")
    assert lines[8].endswith(": asked by phone")
    history = lines[lines.index("history") + 1:]
    assert history[0].split() == ["when", "what", "who", "why"]
    assert "joined as active" in history[1]
    assert "active -> unsubscribed" in history[2] and "asked by phone" in history[2]
    assert "cli:" in history[2]


def test_show_json(workspace_dir, run_cli):
    ok(_add(run_cli, workspace_dir, "mei@example.com", "--tag", "finance"))
    data = json.loads(ok(run_cli(workspace_dir, "subscribers", "show", "mei@example.com", "--json")))
    assert data["subscriber"]["email"] == "mei@example.com"
    assert data["subscriber"]["tags"] == ["finance"]
    assert data["subscriber"]["status_changed_at"] == data["subscriber"]["created_at"]
    assert (data["events"], data["suppression"]) == ([], None)


def test_list_table_and_json(workspace_dir, run_cli):
    for n in range(3):
        ok(_add(run_cli, workspace_dir, f"reader{n}@example.org", "--name", f"Reader {n}",
                "--tag", "technology" if n else "finance"))
    table = ok(run_cli(workspace_dir, "subscribers", "list")).splitlines()
    assert table[0].split() == ["email", "name", "status", "language", "tags", "joined"]
    assert table[1].split()[:5] == ["reader0@example.org", "Reader", "0", "active", "en"]
    assert table[-1] == "3 subscribers"
    assert ok(run_cli(workspace_dir, "subscribers", "list", "--limit", "2")).splitlines()[-1] == \
        "2 subscribers (the first 2; --limit 0 for all)"
    listed = json.loads(ok(run_cli(workspace_dir, "subscribers", "list", "--where",
                                   "tag:technology", "--json")))
    assert [m["email"] for m in listed] == ["reader1@example.org", "reader2@example.org"]
    assert listed[0]["tags"] == ["technology"]


def test_tag_and_untag(workspace_dir, run_cli):
    ok(_add(run_cli, workspace_dir, "mei@example.com", "--tag", "finance"))
    assert ok(run_cli(workspace_dir, "subscribers", "tag", "mei@example.com", "5G", "finance")) == \
        "tagged: 5g\n"
    assert ok(run_cli(workspace_dir, "subscribers", "untag", "MEI@example.com", "finance")) == \
        "untagged: finance\n"
    assert ok(run_cli(workspace_dir, "subscribers", "untag", "mei@example.com", "finance")) == \
        "it had none of these tags\n"


def test_resubscribe_lifts_the_suppression(workspace_dir, run_cli):
    ok(_add(run_cli, workspace_dir, "mei@example.com"))
    ok(run_cli(workspace_dir, "subscribers", "unsubscribe", "mei@example.com"))
    assert ok(run_cli(workspace_dir, "subscribers", "unsubscribe", "mei@example.com")) == \
        "already unsubscribed\n"
    assert ok(run_cli(workspace_dir, "subscribers", "resubscribe", "mei@example.com", "--reason",
                      "wrote to ask")) == "resubscribed\n"
    shown = ok(run_cli(workspace_dir, "subscribers", "show", "mei@example.com"))
    assert "suppressed  no" in shown
    assert "unsubscribed -> active" in shown and "wrote to ask" in shown
    assert ok(run_cli(workspace_dir, "subscribers", "resubscribe", "mei@example.com")) == \
        "already active\n"


def test_remove_erases_but_stays_suppressed(workspace_dir, run_cli):
    ok(_add(run_cli, workspace_dir, "mei@example.com", "--name", "Mei", "--tag", "finance"))
    ok(run_cli(workspace_dir, "subscribers", "remove", "mei@example.com", "--reason", "GDPR request"))
    shown = ok(run_cli(workspace_dir, "subscribers", "show", "mei@example.com")).splitlines()
    assert shown[0] == "email       mei@example.com: not on the list (removed)"
    assert shown[1].startswith("suppressed  yes, removed since ")
    assert shown[1].endswith(": GDPR request")
    again = _add(run_cli, workspace_dir, "Mei@example.com")
    assert again.exit_code == 1
    assert again.error_lines == ["error: Mei@example.com is suppressed (removed); add it again only "
                                 "if they asked: `subscribers resubscribe Mei@example.com`"]
    assert ok(run_cli(workspace_dir, "subscribers", "resubscribe", "mei@example.com")) == \
        "resubscribed\n"
    ok(_add(run_cli, workspace_dir, "mei@example.com"))


@pytest.mark.parametrize("address, reason", [
    ("foo@", "There must be something after the @-sign."),
    ("a@b", "The part after the @-sign is not valid. It should have a period."),
    ("has space@example.com", "The email address contains invalid characters before the @-sign: "
                              "SPACE."),
    ("mei@example.com\r\nBcc: all@example.com", "The part after the @-sign contains invalid "
                                                "characters: ':', '@', SPACE, U+000A, U+000D."),
    ("mei@example.com\n", "The part after the @-sign contains invalid characters: U+000A."),
])
def test_invalid_addresses_are_one_clear_line(workspace_dir, run_cli, address, reason):
    result = _add(run_cli, workspace_dir, address)
    assert result.exit_code == 1
    assert result.error_lines == [f"error: invalid address {address!r}: {reason}"]


def test_an_address_differing_only_in_case_is_already_there(workspace_dir, run_cli):
    ok(_add(run_cli, workspace_dir, "Mei@example.com"))
    result = _add(run_cli, workspace_dir, "MEI@EXAMPLE.COM")
    assert result.exit_code == 1
    assert result.error_lines == ["error: MEI@example.com is already on the list "
                                  "(as Mei@example.com, active)"]


def test_sql_looking_names_and_tags_are_plain_text(workspace_dir, run_cli):
    name = "Robert'); DROP TABLE subscribers;--"
    tag = "x'; DELETE FROM tags WHERE '1'='1"
    ok(_add(run_cli, workspace_dir, "bobby@example.com", "--name", name, "--tag", tag))
    ok(_add(run_cli, workspace_dir, "alice@example.com"))
    data = json.loads(ok(run_cli(workspace_dir, "subscribers", "list", "--json")))
    assert [(m["email"], m["name"], m["tags"]) for m in data] == [
        ("bobby@example.com", name, [tag.lower()]), ("alice@example.com", "", [])]


@pytest.mark.parametrize("command", ["unsubscribe", "resubscribe", "remove", "show", "tag"])
def test_an_unknown_address(workspace_dir, run_cli, command):
    extra = ["finance"] if command == "tag" else []
    result = run_cli(workspace_dir, "subscribers", command, "nobody@example.com", *extra)
    assert result.exit_code == 1
    assert result.error_lines == ["error: unknown address 'nobody@example.com': not on the list"]


@pytest.mark.parametrize("args, message", [
    (("--attr", "lang"), "Invalid value for --attr: expected KEY=VALUE, got 'lang'"),
    (("--attr", "my key=x"), "invalid attribute name 'my key': use letters, digits, _ and -"),
    (("--tag", "a,b"), "invalid tag 'a,b': commas and control characters are not allowed"),
    (("--name", "Mei\nBcc: x"), "invalid name 'Mei\\nBcc: x': line breaks and control characters "
                                "are not allowed"),
])
def test_bad_options_to_add(workspace_dir, run_cli, args, message):
    result = _add(run_cli, workspace_dir, "mei@example.com", *args)
    assert result.exit_code != 0
    assert result.error_lines[-1].endswith(message)
