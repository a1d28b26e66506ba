"""The copy of a build kept when its send starts (gbaletter.issue.published)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from gbaletter.config import load_workspace
from gbaletter.issue.published import find_image, keep_sent_copy, read_sent_copy, sent_folder

ISSUE = "2019-W26"


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_workers_starting_at_once_keep_one_copy_and_a_rebuild_leaves_it(sample_workspace, run_cli):
    assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
    ws = load_workspace(sample_workspace)
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: keep_sent_copy(ws, ISSUE), range(8)))
    assert made.count(True) == 1
    folder = sent_folder(ws, ISSUE)
    kept = _files(folder)
    # what the archive reads, and nothing else
    assert {name for name in kept if not name.startswith("images/")} == {"email.html", "build.json", "links.json",
                                                                          "archive.json"}
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []  # no staging left
    copy = read_sent_copy(ws, ISSUE)
    assert copy is not None and copy.subject.startswith("GBA Weekly #1:")
    assert copy.image.startswith("https://gba.example.org/newsletter/images/")
    assert find_image(ws, copy.image.rpartition("/")[2]).is_relative_to(folder)

    manifest = sample_workspace / "issues" / ISSUE / "issue.yaml"
    manifest.write_text(manifest.read_text().replace("GBA Weekly #1:", "GBA Weekly #1 (corrected):"))
    assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
    assert keep_sent_copy(ws, ISSUE) is False
    assert _files(folder) == kept
