"""`gbaletter db ...`: the database schema (it is also migrated on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .lazy import LazyGroup
from .context import AppContext, pass_app

if TYPE_CHECKING:
    from ..db import Database


def _unmigrated(app: AppContext) -> Database:
    from ..db import Database, create_engine_for

    workspace = app.workspace
    return Database(create_engine_for(workspace.database_url), workspace.tz)


@click.group("db", cls=LazyGroup)
def group() -> None:
    """The subscriber database."""


@group.command("upgrade")
@pass_app
def upgrade_command(app: AppContext) -> None:
    """Bring the schema up to date (needed for an older PostgreSQL database; others are upgraded on use)."""
    from ..db.engine import describe
    from ..db.migrate import upgrade

    database = _unmigrated(app)
    before, after = upgrade(database)
    where = describe(database.engine.url)
    if before == after:
        click.echo(f"{where}: up to date (revision {after})")
    else:
        click.echo(f"{where}: upgraded from {before or 'an empty database'} to revision {after}")


@group.command("copy")
@click.option("--to", "url", required=True, metavar="URL",
              help="The database to copy into, e.g. postgresql+psycopg://gbaletter@db.example.org/"
                   "news (the password from PGPASSWORD, not the command line). It must be empty.")
@pass_app
def copy_command(app: AppContext, url: str) -> None:
    """Copy the whole list (every table) into another, empty database, counts checked."""
    from ..db import Database, create_engine_for
    from ..db.copy import CopiedTable, copy_database
    from ..db.engine import describe

    workspace = app.workspace
    source = _unmigrated(app)
    target = Database(create_engine_for(url), workspace.tz)

    def progress(table: CopiedTable) -> None:
        click.echo(f"{table.name:<20} {table.rows:>10,} rows")

    tables = copy_database(source, target, progress)
    click.echo(f"copied {sum(t.rows for t in tables):,} rows in {len(tables)} tables into "
               f"{describe(target.engine.url)}; point GBALETTER_DATABASE_URL at it to use it")


@group.command("revision")
@click.argument("message")
@pass_app
def revision(app: AppContext, message: str) -> None:
    """For developers: write the next migration from the models (review it before committing)."""
    from ..db.migrate import new_revision

    path = new_revision(_unmigrated(app), message)
    click.echo(f"wrote {path.name}")
