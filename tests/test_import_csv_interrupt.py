"""Ctrl-C or SIGTERM in the middle of an import keeps whole batches only, and running it again
finishes it."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from gbaletter.config import load_workspace
from gbaletter.db import open_database

ROWS = 150_000  # enough that the import is still running when Ctrl-C comes, on any backend
TAGS = ("technology", "finance", "policy")


def _tags_of(n: int) -> list[str]:
    return [tag for i, tag in enumerate(TAGS) if n % (i + 2) == 0]


def _write_members(path) -> None:  # type: ignore[no-untyped-def]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(("email", "name", "tags"))
        for n in range(ROWS):
            writer.writerow((f"reader{n}@example.org", f"Reader {n}", ",".join(_tags_of(n))))
            if n % 10 == 0:  # rows that save nothing: a repeat and a rejected address
                writer.writerow((f"reader{n}@example.org", f"Reader {n}", ""))
                writer.writerow((f"reader{n}@", "No domain", ""))


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM subscribers")).scalar_one()


def _check_consistent(engine: Engine) -> int:
    """Every stored subscriber has exactly the tags of its row; returns how many are stored."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":  # PostgreSQL checks references at every commit
            assert connection.execute(text("PRAGMA integrity_check")).one() == ("ok",)
            assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
        tags: dict[str, set[str]] = {}
        for email, tag in connection.execute(text(
                "SELECT s.email, t.name FROM subscribers s LEFT JOIN subscriber_tags st "
                "ON st.subscriber_id = s.id LEFT JOIN tags t ON t.id = st.tag_id")):
            tags.setdefault(email, set()).update([tag] if tag else [])
    for email, names in tags.items():
        assert names == set(_tags_of(int(email.removeprefix("reader").split("@")[0])))
    return len(tags)


def _import_under_way(workspace_dir, members, output):  # type: ignore[no-untyped-def]
    """`subscribers import` in a process of its own, once it has saved 1000 rows: (an engine
    on the list's database, the process, when it started)."""
    workspace = load_workspace(workspace_dir)
    # the schema first, so that watching the count never races the importer creating it; then a
    # plain connection per look (none of gbaletter's pragmas, nothing held between looks)
    open_database(workspace).dispose()
    engine = create_engine(workspace.database_url, poolclass=NullPool)
    command = [sys.executable, "-m", "gbaletter", "--root", str(workspace_dir), "subscribers",
               "import", str(members), "--batch-size", "500"]
    process = subprocess.Popen(command, stdout=output, stderr=output, text=True,
                               env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    started = time.monotonic()
    while _count(engine) < 1000 and process.poll() is None and time.monotonic() < started + 60:
        time.sleep(0.01)
    return engine, process, started


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_mid_import_then_run_again(workspace_dir, run_cli, signum):
    members = workspace_dir / "members.csv"
    _write_members(members)
    engine, process, started = _import_under_way(workspace_dir, members, subprocess.PIPE)
    seen = _count(engine)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, (stderr, f"{seen} rows seen after {time.monotonic() - started:.1f} s")
    lines = stderr.splitlines()
    assert "stopping after the batch being saved (Ctrl-C again stops at once, losing it)" in lines
    assert lines[-1] == "interrupted"
    assert lines[-2].startswith("stopped at line ")
    assert lines[-2].endswith(" updated); run the same command again to finish")
    saved = _check_consistent(engine)
    assert 1000 <= saved < ROWS
    assert saved % 500 == 0  # whole batches only
    # the count said is the count saved (issue 23 #10: it was every row read, repeats and rejects too)
    said = lines[-2].split(": ", 1)[1]
    assert said.startswith(f"{saved:,} subscribers saved ({saved:,} added, 0 updated)"), said

    again = run_cli(workspace_dir, "subscribers", "import", str(members), "--json")
    assert again.exit_code == 3  # the rejected rows
    report = again.output
    assert f'"added": {ROWS - saved}' in report
    assert f'"duplicates": {saved + ROWS // 10}' in report
    assert _check_consistent(engine) == ROWS


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(child) for child in fh.read().split()]


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_kill_9_of_the_importer_ends_its_parser_process(workspace_dir):
    """The forked parser held the pipe's reading end itself, so it waited forever (issue 23 #5)."""
    members = workspace_dir / "members.csv"
    _write_members(members)
    _, process, _ = _import_under_way(workspace_dir, members, subprocess.DEVNULL)
    [parser] = _children(process.pid)
    process.kill()
    process.wait()
    deadline = time.monotonic() + 30
    while _running(parser) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _running(parser)
    if alive:
        os.kill(parser, signal.SIGKILL)
    assert not alive, "the parser process outlived the importer"


def _holds_write_lock(path) -> bool:  # type: ignore[no-untyped-def]
    """Whether another connection holds SQLite's write lock on the file."""
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        connection.close()


@pytest.mark.sqlite_only
def test_a_stop_signal_mid_load_of_an_empty_list_saves_nothing(workspace_dir, run_cli):
    """Without --batch-size an import into an empty list is one transaction: stopped, it saves
    nothing, the schema stays whole, and the same command starts it again."""
    members = workspace_dir / "members.csv"
    _write_members(members)
    database = open_database(load_workspace(workspace_dir))
    file = database.engine.url.database
    with database.engine.connect() as connection:
        schema = connection.exec_driver_sql("SELECT name, sql FROM sqlite_master ORDER BY name").all()
    database.dispose()
    process = subprocess.Popen(
        [sys.executable, "-m", "gbaletter", "--root", str(workspace_dir), "subscribers", "import",
         str(members)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    deadline = time.monotonic() + 60
    while not _holds_write_lock(file) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # some rows in
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    lines = stderr.splitlines()
    assert "stopping without saving anything (an import into an empty list saves at its end)" in lines
    assert lines[-2:] == ["stopped: nothing was saved (an import into an empty list saves its rows "
                          "at the end); run the same command again", "interrupted"]
    engine = create_engine(f"sqlite:///{file}", poolclass=NullPool)
    assert _count(engine) == 0
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT name, sql FROM sqlite_master ORDER BY name").all() == schema
        assert connection.exec_driver_sql("PRAGMA integrity_check").one() == ("ok",)
    again = run_cli(workspace_dir, "subscribers", "import", str(members), "--json")
    assert again.exit_code == 3  # the rejected rows
    assert f'"added": {ROWS}' in again.output and '"one_transaction": true' in again.output
    assert _check_consistent(engine) == ROWS
