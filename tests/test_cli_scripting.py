"""The CLI for scripts and for people who mistype: "did you mean", week ids, --json (issue 23)."""

from __future__ import annotations

import json
import re

import pytest

from support.issue_content import week_26
from support.sending import ISSUE, TECH_READERS, send


@pytest.mark.parametrize("args, suggestion", [
    (["isue", "build"], "No such command 'isue'. Did you mean 'issue'?"),
    (["subscriber", "list"], "No such command 'subscriber'. Did you mean 'subscribers'?"),
    (["issue", "biuld", "2019-W26"], "No such command 'biuld'. Did you mean 'build'?"),
    (["segments", "shwo", "x"], "No such command 'shwo'. Did you mean 'show'?"),
    (["subscribers", "improt", "x.csv"], "No such command 'improt'. Did you mean 'import'?"),
    (["posts", "lst"], "No such command 'lst'. Did you mean 'list'?"),
    (["db", "upgrad"], "No such command 'upgrad'. Did you mean 'upgrade'?"),
])
def test_a_mistyped_command_gets_the_nearest_names_at_every_level(workspace_dir, run_cli, args, suggestion):
    result = run_cli(workspace_dir, *args)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: {suggestion}"


def test_week_ids_are_normalized(workspace_dir, run_cli):
    week_26(workspace_dir)
    created = run_cli(workspace_dir, "issue", "new", "--week", "2019-w26")
    assert created.exit_code == 0, created.stderr
    assert (workspace_dir / "issues" / "2019-W26" / "issue.yaml").is_file()
    built = run_cli(workspace_dir, "issue", "build", "2019-w26")
    assert built.exit_code == 0, built.stderr
    assert "issues/2019-W26/build/email.html" in built.output
    listed = run_cli(workspace_dir, "posts", "list", "--week", "2019-w26")
    assert listed.exit_code == 0 and listed.output == run_cli(
        workspace_dir, "posts", "list", "--week", "2019-W26").output


def _json(result):  # type: ignore[no-untyped-def]
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.output)


def test_json_figures_match_the_terminal(newsletter, run_cli):
    """`--json` on issue status, issue check, issue report, report, posts list, segments show."""
    root, _, handler = newsletter
    handler.faults["reader3@example.org"] = ["550 5.1.1 no such user"]
    send(run_cli, root)

    status = _json(run_cli(root, "issue", "status", ISSUE, "--json"))
    terminal = run_cli(root, "issue", "status", ISSUE).output
    assert status["states"]["sent"] == TECH_READERS - 1 and status["states"]["bounced"] == 1
    for state, number in status["states"].items():
        assert re.search(rf"^{state}\s+{number}$", terminal, re.M), state
    assert [p["email"] for p in status["problems"]] == ["reader3@example.org"]

    check = _json(run_cli(root, "issue", "check", ISSUE, "--no-browser", "--json"))
    check_terminal = run_cli(root, "issue", "check", ISSUE, "--no-browser").output
    assert f"{len(check['links'])} links (tracked)" in check_terminal
    last = check_terminal.rstrip().splitlines()[-1]
    assert last == f"issue {ISSUE}: no problems found" if not check["findings"] else re.fullmatch(
        rf"issue {ISSUE}: {check['errors']} errors?, {check['warnings']} warnings?", last)
    assert all(f["message"] in check_terminal for f in check["findings"])

    issue_report = _json(run_cli(root, "issue", "report", ISSUE, "--json"))
    report_terminal = run_cli(root, "issue", "report", ISSUE).output
    assert issue_report["funnel"]["recipients"] == TECH_READERS
    assert issue_report["funnel"]["bounced_at_smtp"] == 1
    assert re.search(rf"recipients\s+{TECH_READERS}", report_terminal)
    assert re.search(r"bounced at SMTP\s+1", report_terminal)

    listing = _json(run_cli(root, "report", "--json"))
    [issue] = listing["issues"]
    assert issue["issue_id"] == ISSUE and issue["recipients"] == TECH_READERS
    assert issue["bounce_rate"] == pytest.approx(1 / TECH_READERS)
    assert f"{100 / TECH_READERS:.2f} %" in run_cli(root, "report").output

    posts = _json(run_cli(root, "posts", "list", "--week", "2019-w26", "--json"))
    posts_terminal = run_cli(root, "posts", "list", "--week", "2019-W26").output
    assert re.search(rf"{len(posts['posts'])} posts?, {len(posts['briefs'])} briefs?$", posts_terminal.rstrip())
    assert all(p["id"] in posts_terminal for p in posts["posts"])

    assert run_cli(root, "segments", "add", "tech", "tag:technology").exit_code == 0
    segment = _json(run_cli(root, "segments", "show", "tech", "--json"))
    assert segment["mailable"] == TECH_READERS - 1  # the bounced address is suppressed
    assert f"{TECH_READERS - 1:,} (not suppressed)" in run_cli(root, "segments", "show", "tech").output
