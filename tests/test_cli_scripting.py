"""The CLI for scripts and for people who mistype: "did you mean", week ids, --json (issue 23)."""

from __future__ import annotations


import pytest

from support.issue_content import week_26


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
