"""Building the sample issue: in-process median, CLI wall time, and the size of email.html.

Reference: mjml-python compiling the same MJML alone (the irreducible part of a build) and the
bare Python interpreter's start-up for the CLI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mjml

from gbaletter.config import load_workspace
from gbaletter.issue.render import build_issue

from .common import INSTALLED_ENV, median_seconds, report

REPO = Path(__file__).resolve().parents[1]
ISSUE = "2019-W26"


def copy_workspace(target: Path) -> Path:
    """The repository's workspace (config, content, templates, images, the sample issue) in `target`."""
    shutil.copy(REPO / "gbaletter.toml", target / "gbaletter.toml")
    for folder in ("posts", "briefs", "templates", "images"):
        shutil.copytree(REPO / folder, target / folder)
    shutil.copytree(REPO / "issues" / ISSUE, target / "issues" / ISSUE,
                    ignore=shutil.ignore_patterns("build"))
    return target


def main(_args: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_workspace(Path(tmp))
        ws = load_workspace(root)
        build = build_issue(ws, ISSUE)
        print(f"build: sample issue {ISSUE} ({len(build.info)} info keys, "
              f"{build.html_bytes / 1024:.1f} KB html)")
        mjml_only = median_seconds(lambda: mjml.mjml2html(build.mjml, fonts={}, disable_comments=True), 50)
        in_process = median_seconds(lambda: build_issue(ws, ISSUE), 30)
        report("mjml2html alone (reference)", mjml_only * 1000, "ms")
        report("build_issue in-process (median of 30)", in_process * 1000, "ms", mjml_only * 1000, "< 25 ms")
        startup = median_seconds(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 5)
        cli = median_seconds(lambda: subprocess.run(
            [sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "build", ISSUE],
            check=True, capture_output=True, env=INSTALLED_ENV), 5)
        report("python -c pass (reference)", startup * 1000, "ms")
        report("gbaletter issue build, CLI wall (median of 5)", cli * 1000, "ms", startup * 1000, "<= 300 ms")
        report("email.html size", build.html_bytes / 1024, "KB", None, "< 90 KB")


if __name__ == "__main__":
    main(sys.argv[1:])
