"""PostgreSQL itself: bad URLs and servers, the upgrade rule for a shared server, the write lock.

These run on every suite run: on a SQLite run against a private cluster (support.databases).
"""

from __future__ import annotations

import socket
import threading

import pytest
import sqlalchemy as sa

from gbaletter.db import Database, create_engine_for, open_database
from gbaletter.db.engine import describe
from gbaletter.db.migrate import head_revision, upgrade
from gbaletter.errors import GbaletterError
from gbaletter.subscribers.service import add_subscriber, find_subscriber


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _hidden(url: sa.URL | str) -> str:
    return describe(sa.make_url(url))


@pytest.fixture
def server_url(postgres_database):
    return sa.make_url(postgres_database)


@pytest.mark.parametrize("change, reason", [
    (lambda url: url.set(password="wrong"), 'password authentication failed for user "{user}"'),
    (lambda url: url.set(port=_closed_port()), "Connection refused"),
    (lambda url: url.set(database="no_such_database"), 'database "no_such_database" does not exist'),
    # SQLite's URI options mean nothing to PostgreSQL
    (lambda url: url.update_query_dict({"mode": "ro"}), 'invalid connection option "mode"'),
])
@pytest.mark.parametrize("command", [("subscribers", "list"), ("db", "upgrade")])
def test_a_server_that_cannot_be_used_is_one_line(workspace_dir, run_cli, server_url, change,
                                                   reason, command):
    url = change(server_url)
    result = run_cli(workspace_dir, *command,
                     env={"GBALETTER_DATABASE_URL": url.render_as_string(hide_password=False)})
    assert result.exit_code == 1
    assert result.error_lines == [
        f"error: database {_hidden(url)}: cannot open it: {reason.format(user=url.username)}"]
    assert "wrong" not in result.stderr  # the password is never printed


def test_an_empty_server_database_gets_its_schema_on_first_use(workspace_dir, run_cli,
                                                               postgres_database):
    env = {"GBALETTER_DATABASE_URL": postgres_database}
    assert run_cli(workspace_dir, "subscribers", "add", "a@example.org", env=env).exit_code == 0
    assert run_cli(workspace_dir, "db", "upgrade", env=env).output.endswith(
        f"up to date (revision {head_revision()})\n")


def test_an_older_server_database_is_upgraded_only_when_asked(workspace_dir, run_cli,
                                                              postgres_database):
    old = Database(create_engine_for(postgres_database))
    upgrade(old, "0003")
    old.dispose()
    env = {"GBALETTER_DATABASE_URL": postgres_database}
    refused = run_cli(workspace_dir, "subscribers", "list", env=env)
    assert refused.exit_code == 1
    assert refused.error_lines == [
        f"error: database {_hidden(postgres_database)} is at revision 0003, this gbaletter needs "
        f"{head_revision()}: run `gbaletter db upgrade` (with older gbaletter processes stopped)"]
    upgraded = run_cli(workspace_dir, "db", "upgrade", env=env)
    assert upgraded.exit_code == 0, upgraded.stderr
    assert f"upgraded from 0003 to revision {head_revision()}" in upgraded.output
    assert run_cli(workspace_dir, "subscribers", "list", env=env).exit_code == 0


def test_a_database_of_another_application_is_left_alone(workspace_dir, run_cli, postgres_database):
    engine = sa.create_engine(postgres_database)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE subscribers (id integer PRIMARY KEY, who text)"))
    result = run_cli(workspace_dir, "subscribers", "list",
                     env={"GBALETTER_DATABASE_URL": postgres_database})
    assert result.exit_code == 1
    assert result.error_lines == [
        f"error: database {_hidden(postgres_database)} has tables (subscribers) but no gbaletter "
        "revision; gbaletter needs an empty database (or schema) of its own"]
    with engine.connect() as connection:
        assert sa.inspect(connection).get_table_names() == ["subscribers"]
    engine.dispose()


def test_write_sessions_take_turns_so_read_then_write_stays_right(workspace, monkeypatch,
                                                                  postgres_database):
    """Two processes adding the same address at once: the second waits for the first's commit,
    then finds the address (a clear error), instead of both seeing "not there"."""
    monkeypatch.setenv("GBALETTER_DATABASE_URL", postgres_database)
    first, second = open_database(workspace), open_database(workspace)
    second_done = threading.Event()
    outcome: list[BaseException | None] = []

    def add_again() -> None:
        try:
            with second.session() as session:
                add_subscriber(session, "same@example.org")
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)
        second_done.set()

    with first.session() as session:
        add_subscriber(session, "same@example.org")
        session.flush()
        racer = threading.Thread(target=add_again)
        racer.start()
        with first.engine.connect() as watcher:  # until the second waits for a lock: which?
            waiting = None
            while waiting is None:
                assert not second_done.is_set(), outcome
                waiting = watcher.scalar(sa.text("SELECT locktype FROM pg_locks WHERE NOT granted"))
        # the list's write lock, taken at BEGIN; not the row lock of the insert, which the
        # second would wait for after it had already decided the address was new
        assert waiting == "advisory"
    racer.join()
    assert isinstance(outcome[0], GbaletterError)
    assert "already" in str(outcome[0])
    with first.reader() as session:
        assert find_subscriber(session, "same@example.org") is not None
    first.dispose()
    second.dispose()
