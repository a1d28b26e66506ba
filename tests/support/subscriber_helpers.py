"""Helpers for the subscriber, segment and import tests: the database, CSV files, the CLI."""

from __future__ import annotations

from pathlib import Path

from gbaletter.config import load_workspace
from gbaletter.db import Database, open_database


def open_db(workspace_dir: Path) -> Database:
    return open_database(load_workspace(workspace_dir))


def write_csv(folder: Path, text: str, name: str = "members.csv", encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def ok(result) -> str:  # type: ignore[no-untyped-def]
    """The output of a CLI run that must have succeeded."""
    assert result.exit_code == 0, result.stderr
    return result.output
