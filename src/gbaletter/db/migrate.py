"""Alembic, configured in code: the migrations ship inside the package, no alembic.ini needed.

Revisions are numbered `0001`, `0002`, ... in one straight line; `new_revision` picks the next
number, so adding a table is `gbaletter db revision "add deliveries"` and then reviewing the file.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from ..errors import GbaletterError
from .engine import Database, describe

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database) -> tuple[str | None, str | None]:
    """Migrate to the newest revision if needed; returns (revision before, revision after).

    The check and the migration share one write transaction, so two processes opening a new
    database at once do not both try to create it (on SQLite the second waits for the first).
    """
    head = head_revision()
    with database.session() as session:
        connection = session.connection()
        before = current_revision(connection)
        if before == head:
            return before, head
        known = {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
        if before is not None and before not in known:
            raise GbaletterError(f"database {describe(database.engine.url)} is at revision {before}, "
                                 f"newer than this gbaletter knows (newest: {head}); "
                                 "upgrade gbaletter")
        command.upgrade(_config(connection), "head")
    return before, head


def new_revision(database: Database, message: str) -> Path:
    """Write the next numbered migration, generated from the difference between models and schema."""
    upgrade(database)
    head = head_revision()
    number = f"{int(head or 0) + 1:04d}"
    with database.session() as session:
        script = command.revision(_config(session.connection()), message=message,
                                  autogenerate=True, rev_id=number)
    assert script is not None and not isinstance(script, list)
    return Path(script.path)
