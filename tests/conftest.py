"""Fixtures shared by every test: a throw-away workspace and a way to run the real CLI in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from gbaletter.cli import cli
from gbaletter.config import load_workspace
from support.databases import other_database, postgres, postgres_database, suite_database  # noqa: F401
from support.programs import chromium  # noqa: F401  (fixtures, registered here)
from support.sending import newsletter  # noqa: F401
from support.workspace import MINIMAL_CONFIG, REPO, TEST_SECRET

@dataclass
class Result:
    exit_code: int
    output: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    """An empty workspace (config only) in a temporary folder."""
    root = tmp_path / "ws"
    for folder in ("posts", "briefs", "issues", "subscribers"):
        (root / folder).mkdir(parents=True)
    (root / "gbaletter.toml").write_text(MINIMAL_CONFIG, encoding="utf-8")
    return root


@pytest.fixture
def sample_workspace(tmp_path: Path) -> Path:
    """A copy of the repository's own workspace content (config, posts, briefs, templates)."""
    root = tmp_path / "sample"
    root.mkdir()
    for name in ("gbaletter.toml",):
        shutil.copy(REPO / name, root / name)
    for folder in ("posts", "briefs", "templates", "subscribers", "images"):
        if (REPO / folder).exists():
            shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("*.db*"))
    # without the builds and sent copies `make demo` leaves in the repository's own workspace
    shutil.copytree(REPO / "issues", root / "issues", ignore=shutil.ignore_patterns("build", "sent"))
    return root


@pytest.fixture
def workspace(workspace_dir: Path):
    return load_workspace(workspace_dir)


@pytest.fixture
def run_cli():
    """Run `gbaletter --root ROOT ARGS...` in-process; returns exit code, stdout and stderr."""

    def run(root: Path, *args: str, input: str | None = None, env: dict | None = None) -> Result:
        runner = CliRunner()
        result = runner.invoke(cli, ["--root", str(root), *args], input=input, env=env,
                               catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def run_process():
    """Run the real `python -m gbaletter` in a subprocess (for signals, timing, console output)."""

    def run(root: Path, *args: str, timeout: float = 120, env: dict | None = None,
            check: bool = False) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run([sys.executable, "-m", "gbaletter", "--root", str(root), *args],
                              capture_output=True, text=True, timeout=timeout, env=full_env,
                              check=check)

    return run


@pytest.fixture
def read_only():
    """Make a folder unwritable even for root (chattr +i); undone after the test."""
    made: list[Path] = []

    def make(folder: Path) -> None:
        if os.geteuid() == 0:
            if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
                pytest.skip("chattr +i is not permitted here, and root ignores permission bits")
        else:
            folder.chmod(0o555)
        made.append(folder)

    yield make
    for folder in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            folder.chmod(0o755)


@pytest.fixture
def mail_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1 keeping what it receives: (handler, port)."""
    from support.smtp_server import FaultyHandler, start_server

    handler = FaultyHandler()
    controller = start_server(handler)
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def mail_env(mail_server, monkeypatch):
    """The token secret and the test SMTP server in the environment, as an operator would set them."""
    handler, port = mail_server
    monkeypatch.setenv("GBALETTER_SECRET", TEST_SECRET)
    monkeypatch.setenv("GBALETTER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("GBALETTER_SMTP_PORT", str(port))
    monkeypatch.setenv("GBALETTER_SMTP_TLS", "none")
    return handler
