"""`gbaletter segments ...` and the --segment / --where options of list and export."""

from __future__ import annotations

import json

import pytest

from support.subscriber_helpers import ok


@pytest.fixture
def root(workspace_dir, run_cli):
    for email, tags in (("alice@gmail.com", "technology"), ("bob@example.com", "finance"),
                        ("chen@qq.com", "technology")):
        ok(run_cli(workspace_dir, "subscribers", "add", email, "--tag", tags))
    ok(run_cli(workspace_dir, "subscribers", "unsubscribe", "chen@qq.com"))
    return workspace_dir


def test_add_list_show_remove(root, run_cli):
    assert ok(run_cli(root, "segments", "add", "tech", "tag:technology")) == "saved tech: 1 member\n"
    ok(run_cli(root, "segments", "add", "gone", "status:unsubscribed"))
    table = ok(run_cli(root, "segments", "list")).splitlines()
    assert table[0].split() == ["name", "members", "expression"]
    assert table[1].split() == ["gone", "1", "status:unsubscribed"]
    assert table[2].split() == ["tech", "1", "tag:technology"]
    assert json.loads(ok(run_cli(root, "segments", "list", "--json"))) == [
        {"name": "gone", "expression": "status:unsubscribed", "members": 1},
        {"name": "tech", "expression": "tag:technology", "members": 1}]
    shown = ok(run_cli(root, "segments", "show", "gone")).splitlines()
    assert shown[:4] == ["name        gone", "expression  status:unsubscribed", "members     1",
                         "mailable    0 (not suppressed)"]
    assert json.loads(ok(run_cli(root, "segments", "show", "tech", "--json")))["mailable"] == 1
    assert ok(run_cli(root, "segments", "remove", "gone")) == "removed segment gone\n"
    assert [s["name"] for s in json.loads(ok(run_cli(root, "segments", "list", "--json")))] == \
        ["tech"]


def test_replace_an_expression(root, run_cli):
    ok(run_cli(root, "segments", "add", "tech", "tag:technology"))
    again = run_cli(root, "segments", "add", "tech", "tag:finance")
    assert again.exit_code == 1
    assert again.error_lines == ["error: segment 'tech' exists (tag:technology); pass --replace to "
                                 "change it"]
    assert ok(run_cli(root, "segments", "add", "tech", "tag:finance", "--replace")) == \
        "saved tech: 1 member\n"


def test_list_and_export_a_segment(root, run_cli, tmp_path):
    ok(run_cli(root, "segments", "add", "tech", "tag:technology"))
    listed = json.loads(ok(run_cli(root, "subscribers", "list", "--segment", "tech", "--json")))
    assert [m["email"] for m in listed] == ["alice@gmail.com"]
    out = tmp_path / "tech.csv"
    assert ok(run_cli(root, "subscribers", "export", "--segment", "tech", "-o", str(out))) == \
        f"1 subscriber written to {out}\n"
    assert out.read_text().splitlines()[1].startswith("alice@gmail.com,,active,en,technology,{},")
    exported = ok(run_cli(root, "subscribers", "export", "--where", "status:unsubscribed"))
    assert exported.splitlines()[1].startswith("chen@qq.com,,unsubscribed,en,technology,")


def test_a_segment_with_a_syntax_error_is_not_saved(root, run_cli):
    result = run_cli(root, "segments", "add", "bad", "tag:technology and")
    assert result.exit_code == 1
    assert result.error_lines == ["error: segment: column 19: expected a condition such as "
                                  "tag:NAME, found the end of the expression in: tag:technology and"]
    assert ok(run_cli(root, "segments", "list", "--json")) == "[]\n"


def test_an_unknown_field_in_where(root, run_cli):
    result = run_cli(root, "subscribers", "list", "--where", "tag:technology and citty = Macau")
    assert result.exit_code == 1
    assert result.error_lines == ["error: segment: column 20: unknown field 'citty' (fields: tag, "
                                  "domain, status, language, name, joined, attr.KEY) in: tag:technology and "
                                  "citty = Macau"]


@pytest.mark.parametrize("args, message", [
    (("segments", "show", "nope"), "no segment named 'nope' (`segments list` shows them)"),
    (("segments", "remove", "nope"), "no segment named 'nope' (`segments list` shows them)"),
    (("subscribers", "list", "--segment", "nope"),
     "no segment named 'nope' (`segments list` shows them)"),
    (("subscribers", "list", "--where", "tech-readers"),
     "no segment named 'tech-readers' (`segments list` shows them)"),
    (("segments", "add", "two words", "all"),
     "invalid segment name 'two words': use up to 64 letters, digits, '-', '_' and '.', not a "
     "keyword or field of the segment language"),
    (("segments", "add", "all", "tag:x"),
     "invalid segment name 'all': use up to 64 letters, digits, '-', '_' and '.', not a keyword "
     "or field of the segment language"),
    (("segments", "add", "attr.lang", "all"),
     "invalid segment name 'attr.lang': use up to 64 letters, digits, '-', '_' and '.', not a "
     "keyword or field of the segment language"),
    (("segments", "add", "x'; DROP TABLE segments;--", "all"),
     "invalid segment name \"x'; DROP TABLE segments;--\": use up to 64 letters, digits, '-', "
     "'_' and '.', not a keyword or field of the segment language"),
])
def test_bad_segment_commands(root, run_cli, args, message):
    result = run_cli(root, *args)
    assert result.exit_code == 1
    assert result.error_lines == [f"error: {message}"]


def test_segment_and_where_together_is_a_usage_error(root, run_cli):
    result = run_cli(root, "subscribers", "list", "--segment", "a", "--where", "all")
    assert result.exit_code == 2
    assert "give --segment or --where, not both" in result.stderr


@pytest.mark.parametrize("expression, message", [
    ("(" * 900 + "all" + ")" * 900, "column 21: more than 20 parentheses and 'not's inside one another"),
    (" or ".join(["tag:x"] * 600), "column 2701: more than 300 conditions"),
    ("domain in (" + ", ".join(f"d{n}.example.com" for n in range(999)) + ")",
     "column 3502: more than 200 values in one list"),
    ("joined > 9999-12-31", "column 10: 'joined' takes a date from 1900-01-01 to 9998-12-31"),
])
def test_hostile_expressions_are_one_line_on_the_command_line(root, run_cli, expression, message):
    for command in (["subscribers", "list", "--where", expression], ["segments", "add", "big", expression]):
        result = run_cli(root, *command)
        assert result.exit_code == 1 and "Traceback" not in result.stderr
        [line] = result.error_lines
        assert line.startswith(f"error: segment: {message}")
    assert "big" not in run_cli(root, "segments", "list").output
