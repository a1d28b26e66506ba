"""`gbaletter init DIR`: a new workspace, also from the built wheel installed into a fresh venv.

The wheel test is the one a `pipx install gbaletter` user lives through: only what the wheel
ships (code, templates, migrations, the skeleton) is there, no repository beside it. The wheel is
built and installed once per session (about a minute: pip installs every dependency, from its
cache when it has them).
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import typing
from pathlib import Path

import pytest

import gbaletter
from gbaletter.config import _SECTIONS, Config, load_workspace, read_env_file
from gbaletter.errors import GbaletterError
from gbaletter.content import load_briefs, load_posts
from support.daemons import free_port
from support.workspace import REPO


@pytest.fixture(autouse=True)
def _env_restored(monkeypatch):
    """Loading a new workspace reads its .env into os.environ: undone after each test."""
    for name in ("GBALETTER_SECRET", "GBALETTER_SMTP_PASSWORD", "GBALETTER_DKIM_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_init_makes_a_workspace_that_loads(tmp_path, run_cli):
    root = tmp_path / "letter"
    result = run_cli(tmp_path, "init", str(root))
    assert result.exit_code == 0, result.stderr
    ws = load_workspace(root)  # the strict loader: every key in the commented file is known
    assert ws.config.newsletter.timezone == "Asia/Hong_Kong"
    assert sorted(p.name for p in root.iterdir()) == [
        ".env", ".gitignore", "briefs", "gbaletter.toml", "issues", "posts", "subscribers"]
    [post] = load_posts(ws.posts_dir, ws.tz)
    [brief_file] = ws.briefs_dir.iterdir()
    assert len(load_briefs(ws.briefs_dir, ws.tz)) == 2 and brief_file.name.endswith("-briefs.yaml")
    ignored = (root / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "subscribers/*.db" in ignored and "issues/*/build/" in ignored
    assert "issues/*/report.html" in ignored and "issues/report.html" in ignored and ".env" in ignored
    [secret] = [line for line in (root / ".env").read_text().splitlines() if not line.startswith("#")]
    assert secret.startswith("GBALETTER_SECRET=") and len(secret.split("=", 1)[1]) >= 40
    assert (root / ".env").stat().st_mode & 0o777 == 0o600
    assert "# " in (root / "gbaletter.toml").read_text(encoding="utf-8")  # explained, not bare
    year, week, _ = post.date.isocalendar()
    assert f"gbaletter issue new --week {year}-W{week:02d}" in result.output


def test_the_generated_settings_file_names_every_setting(tmp_path, run_cli):
    """Every key gbaletter reads is in the file, set or commented with its default (issue 23)."""
    root = tmp_path / "letter"
    assert run_cli(tmp_path, "init", str(root)).exit_code == 0
    text = (root / "gbaletter.toml").read_text(encoding="utf-8")
    hints = typing.get_type_hints(Config)
    missing = [f"[{section}] {field.name}" for section, attribute in _SECTIONS.items()
               if dataclasses.is_dataclass(hints[attribute])
               for field in dataclasses.fields(hints[attribute])
               if not re.search(rf"^#? ?{field.name} = ", text, re.M)]
    # the sections that are tables of the desk's own names (tag = "Name") are shown, commented
    missing += [f"[{section}]" for section, attribute in _SECTIONS.items()
                if not dataclasses.is_dataclass(hints[attribute])
                and not re.search(rf"^#? ?\[{section}\]", text, re.M)]
    assert missing == []
    assert re.search(r'^name_fallback = "reader" +# ', text, re.M)


def test_env_file_fills_in_what_the_environment_does_not_set(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("# secrets\nGBALETTER_SECRET='from-the-file-0123456789'\n"
                                   "export GBALETTER_SMTP_PASSWORD=file-password\n\n")
    monkeypatch.delenv("GBALETTER_SECRET", raising=False)
    monkeypatch.setenv("GBALETTER_SMTP_PASSWORD", "from-the-environment")
    read_env_file(tmp_path)
    assert os.environ["GBALETTER_SECRET"] == "from-the-file-0123456789"
    assert os.environ["GBALETTER_SMTP_PASSWORD"] == "from-the-environment"  # the environment wins
    (tmp_path / ".env").write_text("GBALETTER_SECRET\n")
    with pytest.raises(GbaletterError, match=r"\.env:1: expected NAME=value"):
        read_env_file(tmp_path)


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
    greeting = '{{ hi[0] }}{{ name }}{{ hi[1] }}'
    assert greeting in issue.read_text(encoding="utf-8")
    issue.write_text(issue.read_text(encoding="utf-8").replace(greeting, 'Hello {{ name }},'), encoding="utf-8")
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


def test_the_readme_from_the_installed_wheel_to_a_first_send(installed, tmp_path):
    """README "A workspace of your own", with the wheel: init, doctor against a local sink, a trial
    send into it, then the first real issue, #1. The secret comes from .env, exported nowhere."""
    sink_port = free_port()  # the README's 8025 may be taken by another test run on this machine
    env = {**os.environ, "GBALETTER_SMTP_HOST": "127.0.0.1", "GBALETTER_SMTP_PORT": str(sink_port),
           "GBALETTER_SMTP_TLS": "none", "PYTHONPATH": ""}
    for name in ("GBALETTER_ROOT", "GBALETTER_SECRET", "GBALETTER_DATABASE_URL"):
        env.pop(name, None)
    root = tmp_path / "my-letter"

    def gbaletter(*args: str, cwd: Path = root, status: int = 0) -> str:
        result = subprocess.run([str(installed / "gbaletter"), *args], cwd=cwd, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == status, (args, result.stdout, result.stderr)
        return result.stdout

    output = gbaletter("init", str(root), cwd=tmp_path)
    assert "gbaletter doctor" in output and "gbaletter smtp-sink --maildir trial-mail &" in output
    week = re.search(r"gbaletter issue new --week (\d{4}-W\d\d) --trial", output)[1]
    sink = subprocess.Popen([str(installed / "gbaletter"), "smtp-sink", "--maildir", "trial-mail",
                             "--port", str(sink_port)], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(sink_port)
        doctor = json.loads(gbaletter("doctor", "--json", status=1))  # the sample's placeholders
        found = {f["check"]: f for f in doctor["findings"]}
        assert found["secret"]["status"] == "ok"  # read from .env
        assert found["connect"]["status"] == "ok" and found["envelope"]["status"] == "ok"
        assert found["placeholder"]["status"] == "error"
        gbaletter("subscribers", "add", "first.reader@example.com", "--name", "First Reader",
                  "--tag", "technology")
        gbaletter("issue", "new", "--week", week, "--trial")
        gbaletter("issue", "build", f"trial-{week}")
        gbaletter("issue", "send", f"trial-{week}", "--segment", "tag:technology")
        gbaletter("issue", "new", "--week", week)
        gbaletter("issue", "build", week)
        gbaletter("issue", "send", week, "--segment", "tag:technology")
    finally:
        sink.terminate()
        sink.wait(timeout=30)
    messages = sorted((root / "trial-mail" / "new").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    received = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in messages]
    assert [m["To"].addresses[0].addr_spec for m in received] == ["first.reader@example.com"] * 2
    assert received[0]["Subject"].startswith("Bay Area Weekly trial: ")
    assert received[1]["Subject"].startswith("Bay Area Weekly #1: ")  # the trial took no number
    html = received[1].get_body(("html",)).get_content()
    assert "Welcome to your newsletter" in html and "Hi First Reader," in html
    # the installed tool, not this checkout, did the work
    where = subprocess.run([str(installed / "python"), "-c", "import gbaletter; print(gbaletter.__file__)"],
                           capture_output=True, text=True, check=True).stdout
    assert str(installed.parent) in where and str(REPO) not in where


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")
def test_the_installed_wheel_carries_the_message_catalogues(installed):
    script = ("from gbaletter.translations import catalogue_problems, translations\n"
              "print(translations('zh-Hant').gettext('Unsubscribe'), translations('zh-Hans').gettext('Unsubscribe'))\n"
              "print(catalogue_problems(['zh-Hant', 'zh-Hans']))\n")
    result = subprocess.run([str(installed / "python"), "-c", script], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": ""}, cwd=installed, check=True)
    assert result.stdout.splitlines() == ["取消訂閱 退订", "[]"]
