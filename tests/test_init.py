"""`gbaletter init DIR`: a new workspace, also from the built wheel installed into a fresh venv.

The wheel test is the one a `pipx install gbaletter` user lives through: only what the wheel
ships (code, templates, migrations, the skeleton) is there, no repository beside it. The wheel is
built and installed once per session (about a minute: pip installs every dependency, from its
cache when it has them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gbaletter
from gbaletter.config import load_workspace
from gbaletter.content import load_briefs, load_posts
from support.workspace import REPO, TEST_SECRET


def test_init_makes_a_workspace_that_loads(tmp_path, run_cli):
    root = tmp_path / "letter"
    result = run_cli(tmp_path, "init", str(root))
    assert result.exit_code == 0, result.stderr
    ws = load_workspace(root)  # the strict loader: every key in the commented file is known
    assert ws.config.newsletter.timezone == "Asia/Hong_Kong"
    assert sorted(p.name for p in root.iterdir()) == [
        ".gitignore", "briefs", "gbaletter.toml", "issues", "posts", "subscribers"]
    [post] = load_posts(ws.posts_dir, ws.tz)
    [brief_file] = ws.briefs_dir.iterdir()
    assert len(load_briefs(ws.briefs_dir, ws.tz)) == 2 and brief_file.name.endswith("-briefs.yaml")
    ignored = (root / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "subscribers/*.db" in ignored and "issues/*/build/" in ignored
    assert "issues/*/report.html" in ignored and "issues/report.html" in ignored
    assert "# " in (root / "gbaletter.toml").read_text(encoding="utf-8")  # explained, not bare
    year, week, _ = post.date.isocalendar()
    assert f"gbaletter issue new --week {year}-W{week:02d}" in result.output


def test_templates_are_copied_only_when_asked_and_then_used(tmp_path, run_cli):
    plain, copied = tmp_path / "plain", tmp_path / "copied"
    assert run_cli(tmp_path, "init", str(plain)).exit_code == 0
    assert not (plain / "templates").exists()
    made = run_cli(tmp_path, "init", str(copied), "--templates")
    assert made.exit_code == 0
    issue = copied / "templates" / "email" / "issue.mjml.j2"
    shipped = Path(gbaletter.__file__).parent / "templates" / "email" / "issue.mjml.j2"
    assert issue.read_text(encoding="utf-8") == shipped.read_text(encoding="utf-8")
    assert (copied / "templates" / "web" / "unsubscribe.html.j2").is_file()
    issue.write_text(issue.read_text(encoding="utf-8").replace("Hi {{ name }},", "Hello {{ name }},"),
                     encoding="utf-8")
    week = re.search(r"--week (\S+)", made.output)[1]
    for command in (("issue", "new", "--week", week), ("issue", "build", week)):
        assert run_cli(copied, *command).exit_code == 0
    assert "Hello {{name}}," in (copied / "issues" / week / "build" / "email.html").read_text(encoding="utf-8")


def test_a_folder_that_is_not_empty_is_refused(tmp_path, run_cli):
    root = tmp_path / "busy"
    root.mkdir()
    (root / "notes.txt").write_text("mine\n", encoding="utf-8")
    result = run_cli(tmp_path, "init", str(root))
    assert result.exit_code == 1
    assert result.error_lines == [f"error: {root}: not empty; gbaletter init makes a workspace in a new "
                                  "or empty folder"]
    assert [p.name for p in root.iterdir()] == ["notes.txt"]


def test_an_empty_folder_is_used(tmp_path, run_cli):
    root = tmp_path / "empty"
    root.mkdir()
    assert run_cli(tmp_path, "init", str(root)).exit_code == 0
    assert (root / "gbaletter.toml").is_file()


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Path:
    """The bin folder of a fresh venv with gbaletter installed from a wheel built from this tree."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"  # a copy, so the build leaves nothing in the repository
    shutil.copytree(REPO / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(base / "dist"), str(source)],
                   check=True, capture_output=True, timeout=600)
    [wheel] = (base / "dist").glob("gbaletter-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)],
                   check=True, capture_output=True, timeout=900)
    return venv / "bin"


def test_the_installed_wheel_starts_a_workspace_and_sends_an_issue(installed, mail_server, tmp_path):
    handler, port = mail_server
    env = {**os.environ, "GBALETTER_SECRET": TEST_SECRET, "GBALETTER_SMTP_HOST": "127.0.0.1",
           "GBALETTER_SMTP_PORT": str(port), "GBALETTER_SMTP_TLS": "none", "PYTHONPATH": ""}
    env.pop("GBALETTER_ROOT", None)
    root = tmp_path / "letter"

    def gbaletter(*args: str, cwd: Path = root) -> str:
        result = subprocess.run([str(installed / "gbaletter"), *args], cwd=cwd, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    output = gbaletter("init", str(root), cwd=tmp_path)
    week = re.search(r"gbaletter issue new --week (\d{4}-W\d\d)", output)[1]
    gbaletter("issue", "new", "--week", week)
    gbaletter("issue", "build", week)
    gbaletter("subscribers", "add", "first.reader@example.com", "--name", "First Reader")
    sent = gbaletter("issue", "send", week, "--segment", "all")
    [received] = handler.received
    assert received.rcpt == "first.reader@example.com", sent
    message = received.message
    assert message["Subject"].startswith("Bay Area Weekly #1")
    html = message.get_body(("html",)).get_content()
    assert "Welcome to your newsletter" in html and "Hi First Reader," in html
    # the installed tool, not this checkout, did the work
    where = subprocess.run([str(installed / "python"), "-c", "import gbaletter; print(gbaletter.__file__)"],
                           capture_output=True, text=True, check=True).stdout
    assert str(installed.parent) in where and str(REPO) not in where


def test_the_installed_wheel_carries_the_message_catalogues(installed):
    script = ("from gbaletter.translations import catalogue_problems, translations\n"
              "print(translations('zh-Hant').gettext('Unsubscribe'), translations('zh-Hans').gettext('Unsubscribe'))\n"
              "print(catalogue_problems(['zh-Hant', 'zh-Hans']))\n")
    result = subprocess.run([str(installed / "python"), "-c", script], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": ""}, cwd=installed, check=True)
    assert result.stdout.splitlines() == ["取消訂閱 退订", "[]"]
