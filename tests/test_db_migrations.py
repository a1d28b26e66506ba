"""The schema: migrations create what the models describe, upgrade keeps data, bad URLs fail clearly."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

# every models module, as the migrations' env.py imports them (test_layers.py checks that list)
import gbaletter.delivery.models
import gbaletter.subscribers.models  # noqa: F401
from gbaletter.db import Base, Database, create_engine_for, open_database
from gbaletter.db.migrate import current_revision, head_revision, upgrade
from gbaletter.subscribers.service import is_suppressed


def _db_file(workspace_dir):
    return workspace_dir / "subscribers" / "gbaletter.db"


def test_first_use_creates_the_schema_the_models_describe(workspace):
    database = open_database(workspace)
    with database.engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_upgrade_keeps_rows_that_refer_to_rebuilt_tables(workspace, workspace_dir, run_cli):
    database = Database(create_engine_for(workspace.database_url))
    upgrade(database, "0002")
    raw = sqlite3.connect(_db_file(workspace_dir))
    now = "2019-06-01 10:00:00.000000"
    digest = hashlib.sha256(b"a@example.org").digest()
    with raw:
        raw.execute("INSERT INTO subscribers VALUES (1, 'a@example.org', ?, '', 'unsubscribed',"
                    " '{}', 'test', ?, ?, ?)", (digest.hex(), now, now, now))
        raw.execute("INSERT INTO suppressions VALUES (?, 'unsubscribed', 'asked', ?)",
                    (digest.hex(), now))
        raw.execute("INSERT INTO tags VALUES (1, 'technology')")
        raw.execute("INSERT INTO subscriber_tags VALUES (1, 1)")
        raw.execute("INSERT INTO subscriber_events (subscriber_id, at, actor, old_status, "
                    "new_status, reason) VALUES (1, ?, 'test', 'active', 'unsubscribed', 'asked')",
                    (now,))
    raw.close()
    result = run_cli(workspace_dir, "db", "upgrade")
    assert result.exit_code == 0, result.stderr
    assert f"upgraded from 0002 to revision {head_revision()}" in result.output
    raw = sqlite3.connect(_db_file(workspace_dir))
    assert raw.execute("SELECT count(*) FROM subscriber_tags").fetchone() == (1,)
    assert raw.execute("SELECT count(*) FROM subscriber_events").fetchone() == (1,)
    assert raw.execute("SELECT email_hash FROM subscribers").fetchone() == (digest,)
    assert raw.execute("SELECT email_hash FROM suppressions").fetchone() == (digest,)
    with open_database(workspace).reader() as session:
        assert is_suppressed(session, "A@example.org")
    assert run_cli(workspace_dir, "db", "upgrade").output.endswith(
        f"up to date (revision {head_revision()})\n")


def test_a_database_from_a_newer_gbaletter_is_refused(workspace, workspace_dir, run_cli):
    open_database(workspace).dispose()
    raw = sqlite3.connect(_db_file(workspace_dir))
    with raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999'")
    raw.close()
    result = run_cli(workspace_dir, "subscribers", "list")
    assert result.exit_code == 1
    assert result.error_lines == [
        f"error: database sqlite:///{_db_file(workspace_dir)} is at revision 9999, newer than "
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
