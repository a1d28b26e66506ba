"""Alembic, configured in code: the migrations ship inside the package, no alembic.ini needed.

`open_database` is how the application gets its database: the engine, with the schema brought
up to date on first use.

Revisions are numbered `0001`, `0002`, ... in one straight line; `new_revision` picks the next
number, so adding a table is `gbaletter db revision "add deliveries"` and then reviewing the file.

Alembic is imported only when a migration is due: whether one is due is read without it (the
newest revision from the file names, the database's from its `alembic_version` table), because
every command that opens the database asks, and Alembic is ~10 MB and 100 ms of a send's start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError, OperationalError

from ..config import Workspace
from ..errors import GbaletterError
from .engine import CACHE_MIB, Database, cannot_connect, create_engine_for, describe

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def newest_revision() -> str | None:
    """`head_revision` without Alembic: the revisions form one straight line numbered in their
    file names (`0009_issue_links.py` is revision 0009), so the newest is the highest number."""
    numbers = [path.name.partition("_")[0] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py")]
    return max(numbers, default=None)


def recorded_revision(connection: Connection) -> str | None:
    """`current_revision` without Alembic: what its `alembic_version` table holds, if it is there."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(database: Database, target: str | None = None, *,
            on_first_use: bool = False) -> tuple[str | None, str | None]:
    """Migrate to `target` (default: the newest revision) if needed; returns (before, after).

    The check and the migration share one write transaction, so two processes opening a new
    database at once do not both try to create it (the second waits for the list's write lock).

    `on_first_use` (any command opening the workspace's database) creates the schema in an empty
    database, and upgrades an older SQLite file; an older database on a server is only upgraded
    by `gbaletter db upgrade`. A server is shared by hosts that may run different versions:
    a newer gbaletter started on one must not change the schema under the others unasked.
    """
    try:
        with database.engine.connect() as connection:
            recorded = recorded_revision(connection)
    except DBAPIError as exc:
        raise cannot_connect(database.engine.url, exc) from None
    if recorded is not None and recorded == (target or newest_revision()):
        return recorded, recorded
    from alembic import command
    from alembic.script import ScriptDirectory

    head = target or head_revision()
    with database.writer_connection() as connection, _foreign_keys_off(connection):
        with connection.begin():
            before = current_revision(connection)
            if before == head:
                return before, head
            known = {script.revision
                     for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
            if before is not None and before not in known:
                raise GbaletterError(f"database {describe(database.engine.url)} is at revision "
                                     f"{before}, newer than this gbaletter knows (newest: {head}); "
                                     "upgrade gbaletter")
            if on_first_use and before is not None and connection.dialect.name != "sqlite":
                raise GbaletterError(f"database {describe(database.engine.url)} is at revision "
                                     f"{before}, this gbaletter needs {head}: run `gbaletter db "
                                     "upgrade` (with older gbaletter processes stopped)")
            if before is None and (found := inspect(connection).get_table_names()):
                raise GbaletterError(f"database {describe(database.engine.url)} has tables "
                                     f"({', '.join(sorted(found))}) but no gbaletter revision; "
                                     "gbaletter needs an empty database (or schema) of its own")
            command.upgrade(_config(connection), str(head))
            _check_references(connection, head)
    return before, head


@contextmanager
def _foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite rebuilds a table to alter it, and with foreign keys on, dropping the old copy would
    cascade-delete every row that refers to it. SQLite's own procedure: keys off, migrate in a
    transaction, check references, commit, keys on. (The pragma is a no-op inside a transaction,
    so it goes straight to the driver, before BEGIN.)"""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys = ON")


def _check_references(connection: Connection, revision: str | None) -> None:
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
        if broken is not None:
            raise GbaletterError(f"migrating to revision {revision} would leave rows of "
                                 f"{broken[0]} pointing to missing {broken[2]}; nothing was changed")


def new_revision(database: Database, message: str) -> Path:
    """Write the next numbered migration, generated from the difference between models and schema."""
    from alembic import command

    upgrade(database)
    head = head_revision()
    number = f"{int(head or 0) + 1:04d}"
    with database.session() as session:
        script = command.revision(_config(session.connection()), message=message,
                                  autogenerate=True, rev_id=number)
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def open_database(workspace: Workspace, *, cache_mib: float = CACHE_MIB) -> Database:
    """The workspace's database, with its schema brought up to date (created on first use)."""
    database = Database(create_engine_for(workspace.database_url, cache_mib), workspace.tz)
    try:
        upgrade(database, on_first_use=True)
    except OperationalError as exc:  # e.g. a read-only SQLite file, a disk full while migrating
        database.dispose()
        raise GbaletterError(f"database {describe(database.engine.url)}: {exc.orig}") from None
    except GbaletterError:
        database.dispose()
        raise
    return database
