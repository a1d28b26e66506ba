"""`gbaletter db ...`: the database schema (it is also migrated on first use)."""

from __future__ import annotations

import click

from ..db import Database, create_engine_for
from ..db.engine import describe
from ..db.migrate import new_revision, upgrade
from .context import AppContext, pass_app


def _unmigrated(app: AppContext) -> Database:
    workspace = app.workspace
    return Database(create_engine_for(workspace.database_url), workspace.tz)


@click.group("db")
def group() -> None:
    """The subscriber database."""


@group.command("upgrade")
@pass_app
def upgrade_command(app: AppContext) -> None:
    """Bring the schema up to date (gbaletter also does it by itself when needed)."""
    database = _unmigrated(app)
    before, after = upgrade(database)
    where = describe(database.engine.url)
    if before == after:
        click.echo(f"{where}: up to date (revision {after})")
    else:
        click.echo(f"{where}: upgraded from {before or 'an empty database'} to revision {after}")


@group.command("revision")
@click.argument("message")
@pass_app
def revision(app: AppContext, message: str) -> None:
    """For developers: write the next migration from the models (review it before committing)."""
    path = new_revision(_unmigrated(app), message)
    click.echo(f"wrote {path.name}")
