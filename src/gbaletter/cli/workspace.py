"""`gbaletter init DIR`: start a new workspace."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("init")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--templates", is_flag=True,
              help="Copy the email and page templates into FOLDER/templates/ to edit them "
                   "(default: use the ones in the package, which upgrades keep up to date).")
def init(folder: Path, templates: bool) -> None:
    """Make a new workspace in FOLDER (new or empty): settings, folders, a sample post and brief."""
    from ..skeleton import create_workspace

    made = create_workspace(folder, templates=templates)
    for name in made.files:
        if not name.startswith("templates/"):
            click.echo(f"created {folder}/{name}")
    if templates:
        click.echo(f"copied the templates into {folder / 'templates'}/")
    click.echo(f"\nnext: edit {folder / 'gbaletter.toml'}, then from {folder}:\n"
               f"  gbaletter issue new --week {made.week}\n"
               f"  gbaletter issue build {made.week}")
