"""The schema: migrations create what the models describe, upgrade keeps data, bad URLs fail clearly.

Database-neutral: on a PostgreSQL run (tests/support/databases.py) the same tests run there.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

# every models module, as the migrations' env.py imports them (test_layers.py checks that list)
import gbaletter.delivery.models
import gbaletter.subscribers.models  # noqa: F401
from gbaletter.db import Base, Database, create_engine_for, open_database
from gbaletter.db.engine import describe
from gbaletter.db.migrate import current_revision, head_revision, newest_revision, upgrade
from gbaletter.subscribers.models import declare_partial_indexes
from gbaletter.subscribers.segments import count_members, segment_filter
from gbaletter.subscribers.service import is_suppressed


def _at_revision(workspace, revision: str) -> tuple[Database, dict[str, sa.Table]]:  # type: ignore[no-untyped-def]
    """The workspace's database migrated up to `revision`, and its tables as they are there."""
    database = Database(create_engine_for(workspace.database_url))
    upgrade(database, revision)
    metadata = sa.MetaData()
    metadata.reflect(database.engine)
    return database, dict(metadata.tables)


def test_first_use_creates_the_schema_the_models_describe(workspace):
    database = open_database(workspace)
    with database.engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        declare_partial_indexes()
        assert compare_metadata(context, Base.metadata) == []


@pytest.mark.sqlite_only
def test_sqlite_is_tuned_for_one_writer_and_many_readers(workspace):
    with open_database(workspace).engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_upgrade_keeps_rows_that_refer_to_rebuilt_tables(workspace, workspace_dir, run_cli):
    """Revision 0003 rebuilds tables on SQLite and converts hashes on every backend."""
    database = Database(create_engine_for(workspace.database_url))
    upgrade(database, "0002")
    now = datetime(2019, 6, 1, 10)
    digest = hashlib.sha256(b"a@example.org").digest()
    metadata = sa.MetaData()
    metadata.reflect(database.engine)
    tables = metadata.tables
    with database.engine.begin() as connection:
        connection.execute(tables["subscribers"].insert().values(
            id=1, email="a@example.org", email_hash=digest.hex(), name="", status="unsubscribed",
            attributes={}, consent_source="test", created_at=now, updated_at=now,
            status_changed_at=now))
        connection.execute(tables["suppressions"].insert().values(
            email_hash=digest.hex(), reason="unsubscribed", detail="asked", created_at=now))
        connection.execute(tables["tags"].insert().values(id=1, name="technology"))
        connection.execute(tables["subscriber_tags"].insert().values(subscriber_id=1, tag_id=1))
        connection.execute(tables["subscriber_events"].insert().values(
            subscriber_id=1, at=now, actor="test", old_status="active", new_status="unsubscribed",
            reason="asked"))
    database.dispose()
    result = run_cli(workspace_dir, "db", "upgrade")
    assert result.exit_code == 0, result.stderr
    assert f"upgraded from 0002 to revision {head_revision()}" in result.output
    with database.engine.connect() as connection:
        def one(sql: str):  # type: ignore[no-untyped-def]
            return connection.execute(sa.text(sql)).one()
        assert one("SELECT count(*) FROM subscriber_tags") == (1,)
        assert one("SELECT count(*) FROM subscriber_events") == (1,)
        assert bytes(one("SELECT email_hash FROM subscribers")[0]) == digest
        assert bytes(one("SELECT email_hash FROM suppressions")[0]) == digest
    database.dispose()
    with open_database(workspace).reader() as session:
        assert is_suppressed(session, "A@example.org")
    assert run_cli(workspace_dir, "db", "upgrade").output.endswith(
        f"up to date (revision {head_revision()})\n")


def test_upgrade_to_0010_gives_existing_events_the_issue_their_reason_names(workspace):
    """Only a sent issue's whole id counts: "special" is not found in "special-2"'s events."""
    database, tables = _at_revision(workspace, "0009")
    now = datetime(2026, 12, 1, 9)
    reasons = ["one-click unsubscribe from issue special-2", "unsubscribe page of issue special",
               "550 5.1.1 <a@example.org>: User unknown (issue 2019-W26)",
               "hard bounce of issue 2019-W26; Status 5.1.1 (bad-address)", "asked by phone",
               "unsubscribe page of issue welcome"]
    with database.engine.begin() as connection:
        connection.execute(tables["sends"].insert(), [
            {"issue_id": issue, "segment": "all", "recipients": 1, "started_at": now}
            for issue in ("special", "special-2", "2019-W26")])
        connection.execute(tables["subscribers"].insert().values(
            id=1, email="a@example.org", email_hash=hashlib.sha256(b"a@example.org").digest(), name="",
            status="active", attributes={}, consent_source="test", created_at=now, updated_at=now,
            status_changed_at=now))
        connection.execute(tables["subscriber_events"].insert(), [
            {"subscriber_id": 1, "at": now, "actor": "test", "old_status": "active",
             "new_status": "unsubscribed", "reason": reason} for reason in reasons])
    upgrade(database, "0010")
    with database.engine.connect() as connection:
        found = connection.execute(sa.text("SELECT issue_id FROM subscriber_events ORDER BY id")).scalars().all()
    database.dispose()
    assert found == ["special-2", "special", "2019-W26", "2019-W26", None, None]


def test_a_database_from_a_newer_gbaletter_is_refused(workspace, workspace_dir, run_cli):
    database = open_database(workspace)
    with database.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    where = describe(database.engine.url)
    database.dispose()
    result = run_cli(workspace_dir, "subscribers", "list")
    assert result.exit_code == 1
    assert result.error_lines == [
        f"error: database {where} is at revision 9999, newer than "
        f"this gbaletter knows (newest: {head_revision()}); upgrade gbaletter"]


@pytest.mark.parametrize("url, message", [
    ("nosuchdb://x", "database url nosuchdb://x: Can't load plugin: sqlalchemy.dialects:nosuchdb"),
    ("not a url", "database url not a url: Could not parse SQLAlchemy URL from given URL string"),
])
def test_a_bad_database_url_is_one_clear_line(workspace_dir, run_cli, url, message):
    result = run_cli(workspace_dir, "subscribers", "list", env={"GBALETTER_DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.error_lines == [f"error: {message}"]
    assert "Traceback" not in result.stderr


def test_whether_a_migration_is_due_is_read_as_alembic_reads_it(tmp_path):
    """The start-up check reads the newest revision from the file names, without Alembic."""
    assert newest_revision() == head_revision()


def test_upgrade_to_0016_keeps_subscribers_ids_entries_and_the_uniqueness(workspace):
    """0016 rebuilds `subscribers` on SQLite: rows, ids, tags, the AUTOINCREMENT counter, the
    triggers and partial indexes stay; the address stays unique, now by its own index."""
    database, tables = _at_revision(workspace, "0015")
    now = datetime(2026, 12, 6, 3)
    with database.engine.begin() as connection:
        connection.execute(tables["subscribers"].insert(), [
            {"email": f"p{n}@example.org", "email_hash": bytes([n]) * 32, "name": "",
             "status": "unsubscribed" if n == 2 else "active", "attributes": {"lang": "en", "n": n},
             "consent_source": "test", "created_at": now, "updated_at": now, "status_changed_at": now}
            for n in (1, 2, 3)])  # ids 1, 2, 3
        connection.execute(tables["tags"].insert().values(id=1, name="technology"))
        connection.execute(tables["subscriber_tags"].insert(), [{"subscriber_id": n, "tag_id": 1} for n in (1, 3)])
        connection.execute(tables["subscribers"].delete().where(tables["subscribers"].c.id == 3))
    upgrade(database)
    with database.engine.begin() as connection:
        rows = connection.execute(sa.text("SELECT id, email FROM subscribers ORDER BY id")).all()
        assert [tuple(row) for row in rows] == [(1, "p1@example.org"), (2, "p2@example.org")]
        assert connection.execute(sa.text("SELECT subscriber_id FROM subscriber_tags")).scalars().all() == [1]
        connection.execute(tables["subscribers"].insert().values(
            email="new@example.org", email_hash=bytes([9]) * 32, name="", status="active",
            attributes={"lang": "zh"}, consent_source="test", created_at=now, updated_at=now,
            status_changed_at=now))
        new_id = connection.execute(sa.text("SELECT id FROM subscribers WHERE email = 'new@example.org'")).scalar()
        assert new_id == 4  # 3 was an erased subscriber's: never handed out again
    with database.reader() as session:  # the entries' triggers and the partial indexes work
        assert count_members(session, segment_filter(session, "attr.lang = en")) == 1
        assert count_members(session, segment_filter(session, "attr.lang = zh")) == 1
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        declare_partial_indexes()
        assert compare_metadata(context, Base.metadata) == []
    with database.engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
        connection.execute(tables["subscribers"].insert().values(
            email="P1@example.org", email_hash=bytes([1]) * 32, name="", status="active",
            attributes={}, consent_source="test", created_at=now, updated_at=now, status_changed_at=now))
    database.dispose()
