"""The templates Jinja compiled, kept in the workspace's `cache/templates/` for the next process:
an edited template is used at once, and a cache that cannot be used only costs the compile."""

import pytest

from gbaletter.issue import templates
from support.issue_content import week_26
from support.workspace import write


def _new_process() -> None:
    """What a new process starts from: no environment, no template compiled in memory."""
    templates._environment.cache_clear()


@pytest.fixture
def issue(workspace_dir, run_cli):
    week_26(workspace_dir)
    assert run_cli(workspace_dir, "issue", "new", "--week", "2019-W26").exit_code == 0
    return workspace_dir


def _build(root, run_cli) -> str:
    _new_process()
    result = run_cli(root, "issue", "build", "2019-W26")
    assert result.exit_code == 0, result.stderr
    return (root / "issues/2019-W26/build/email.html").read_text()


def test_compiled_templates_are_kept_in_the_workspace_cache(issue, run_cli):
    first = _build(issue, run_cli)
    kept = sorted((issue / "cache/templates").iterdir())
    assert kept and _build(issue, run_cli) == first
    assert sorted((issue / "cache/templates").iterdir()) == kept


def test_a_template_edited_between_two_builds_is_used_at_once(issue, run_cli):
    _build(issue, run_cli)
    kept = sorted((issue / "cache/templates").iterdir())
    environment = templates.template_environment(issue / "templates")
    source = environment.loader.get_source(environment, "email/issue.txt.j2")[0]
    write(issue / "templates/email/issue.txt.j2", "Edited between builds " + source)
    _build(issue, run_cli)
    assert (issue / "issues/2019-W26/build/email.txt").read_text().startswith("Edited between builds")
    (issue / "templates/email/issue.txt.j2").unlink()  # back to the package's: its file is kept
    _build(issue, run_cli)
    assert not (issue / "issues/2019-W26/build/email.txt").read_text().startswith("Edited")
    assert set(kept) <= set((issue / "cache/templates").iterdir())


def test_a_cache_folder_that_cannot_be_made_still_builds(issue, run_cli):
    expected = _build(issue, run_cli)
    for kept in (issue / "cache/templates").iterdir():
        kept.unlink()
    (issue / "cache/templates").rmdir()
    write(issue / "cache/templates", "a file where the folder should be")
    assert _build(issue, run_cli) == expected


def test_a_damaged_cache_file_is_compiled_again(issue, run_cli):
    expected = _build(issue, run_cli)
    kept = sorted((issue / "cache/templates").iterdir())
    for path in kept:
        path.write_bytes(path.read_bytes()[:20])  # the header, then half a checksum
    assert _build(issue, run_cli) == expected
    assert all(path.stat().st_size > 20 for path in kept)  # written whole again
