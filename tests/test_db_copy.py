"""`gbaletter db copy --to URL`: a whole list from SQLite into a real PostgreSQL, counts checked."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gbaletter.config import load_workspace
from gbaletter.db import Database, create_engine_for, open_database
from gbaletter.db.engine import describe
from gbaletter.delivery import journal
from gbaletter.subscribers.models import Subscriber
from gbaletter.subscribers.segments import save_segment, segment_filter, stream_members
from gbaletter.subscribers.service import add_subscriber, find_subscriber, remove_subscriber
from support.subscriber_helpers import ok
from support.workspace import DATA

ISSUE = "2019-W26"


@pytest.fixture
def sqlite_list(workspace_dir, tmp_path, monkeypatch, run_cli):
    """A list in a SQLite file: imported subscribers with tags and attributes, an unsubscribe
    (event and suppression), a saved segment, a send journal, and the newest subscriber erased."""
    monkeypatch.setenv("GBALETTER_DATABASE_URL", f"sqlite:///{tmp_path / 'list.db'}")
    for name in ("mailchimp_subscribed.csv", "listmonk_export.csv"):
        ok(run_cli(workspace_dir, "subscribers", "import", str(DATA / name)))
    ok(run_cli(workspace_dir, "subscribers", "unsubscribe", "chan.taiman@example.com"))
    database = open_database(load_workspace(workspace_dir))
    with database.session() as session:
        save_segment(session, "tech", "tag:technology")
        journal.freeze(session, ISSUE, "all", segment_filter(session, "all"))
        newest = add_subscriber(session, "newest@example.org", tags=["technology"])
    with database.erasing() as session:
        remove_subscriber(session, "newest@example.org", actor="test")
    return database, newest.id


def _tables(database: Database) -> list[sa.Table]:
    """Every table the migrations made (whichever layers they belong to)."""
    metadata = sa.MetaData()
    metadata.reflect(database.engine)
    return [table for table in metadata.sorted_tables if table.name != "alembic_version"]


def _rows(database: Database) -> dict[str, list[tuple]]:
    """Every row of every table, in a comparable order."""
    found = {}
    with database.engine.connect() as connection:
        for table in _tables(database):
            rows = connection.execute(sa.select(table)).all()
            found[table.name] = sorted((tuple(bytes(v) if isinstance(v, memoryview) else v
                                              for v in row) for row in rows), key=repr)
    return found


def test_copy_to_postgresql_moves_every_row(workspace_dir, run_cli, sqlite_list, postgres_database):
    source, erased_id = sqlite_list
    result = run_cli(workspace_dir, "db", "copy", "--to", postgres_database)
    assert result.exit_code == 0, result.stderr
    target = Database(create_engine_for(postgres_database))
    expected = _rows(source)
    assert _rows(target) == expected
    lines = result.output.splitlines()
    for table in _tables(target):  # one line per table, with its count
        assert f"{table.name:<20} {len(expected[table.name]):>10,} rows" in lines
    assert lines[-1].startswith(f"copied {sum(map(len, expected.values())):,} rows in "
                                f"{len(expected)} tables into {describe(target.engine.url)}")
    assert len(expected["subscribers"]) >= 5 and expected["deliveries"] and expected["segments"]
    assert expected["subscriber_events"] and expected["suppressions"] and expected["subscriber_tags"]

    # The copy is a working list: the next subscriber gets an id never handed out before
    # (not the erased newest subscriber's, whose old unsubscribe links still exist).
    with target.session() as session:
        assert add_subscriber(session, "after@example.org").id > erased_id
        assert find_subscriber(session, "chan.taiman@example.com").status == "unsubscribed"
    target.dispose()


def test_copy_refuses_a_target_with_rows_and_changes_nothing(workspace_dir, run_cli, sqlite_list,
                                                           postgres_database):
    ok(run_cli(workspace_dir, "db", "copy", "--to", postgres_database))
    target = Database(create_engine_for(postgres_database))
    before = _rows(target)
    again = run_cli(workspace_dir, "db", "copy", "--to", postgres_database)
    assert again.exit_code == 1
    assert len(again.error_lines) == 1
    assert again.error_lines[0].startswith(
        f"error: db copy: the target {describe(target.engine.url)} is not empty (")
    assert "subscribers" in again.error_lines[0]
    assert _rows(target) == before
    target.dispose()


def test_copy_into_its_own_database_is_refused(workspace_dir, run_cli, sqlite_list, tmp_path):
    result = run_cli(workspace_dir, "db", "copy", "--to", f"sqlite:///{tmp_path / 'list.db'}")
    assert result.exit_code == 1
    assert result.error_lines == [f"error: db copy: the target sqlite:///{tmp_path / 'list.db'} is "
                                  "the workspace's own database"]


def test_copy_back_to_sqlite_keeps_ids_never_reused(workspace_dir, run_cli, sqlite_list, tmp_path,
                                                    monkeypatch, postgres_database):
    """PostgreSQL -> SQLite too: the AUTOINCREMENT counter comes from the source's sequence."""
    _, erased_id = sqlite_list
    ok(run_cli(workspace_dir, "db", "copy", "--to", postgres_database))
    monkeypatch.setenv("GBALETTER_DATABASE_URL", postgres_database)
    back = f"sqlite:///{tmp_path / 'back.db'}"
    ok(run_cli(workspace_dir, "db", "copy", "--to", back))
    database = Database(create_engine_for(back))
    with database.session() as session:
        assert add_subscriber(session, "later@example.org").id > erased_id
        assert session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) >= 6
    database.dispose()


def test_an_unreachable_target_is_one_line(workspace_dir, run_cli, sqlite_list, postgres_database):
    url = sa.make_url(postgres_database).set(password="wrong")
    result = run_cli(workspace_dir, "db", "copy", "--to", url.render_as_string(hide_password=False))
    assert result.exit_code == 1
    assert result.error_lines == [f"error: database {describe(url)}: cannot open it: password "
                                  f'authentication failed for user "{url.username}"']


def test_the_targets_triggers_make_its_attribute_entries(workspace_dir, run_cli, sqlite_list,
                                                         postgres_database):
    """Entries are not copied: SQLite's text of `true` is '1', PostgreSQL's 'true' (what each
    database's own comparison of the JSON gives), and the target's triggers write its own."""
    source, _ = sqlite_list
    with source.session() as session:
        add_subscriber(session, "vip@example.org", tags=["technology"], attributes={"vip": True})
    ok(run_cli(workspace_dir, "db", "copy", "--to", postgres_database))
    target = Database(create_engine_for(postgres_database))
    with target.reader() as session:
        def members(expression: str) -> list[str]:
            return [m.email for m in stream_members(session, segment_filter(session, expression))]

        assert members("tag:technology and attr.vip = true") == ["vip@example.org"]
        assert members("tag:technology and attr.vip = 1") == []  # SQLite's entry was not copied
        assert members("(attr.vip = 1) or (attr.vip = 1)") == []  # as the rows' JSON says
    target.dispose()
