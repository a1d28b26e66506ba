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
    click.echo(NEXT_STEPS.format(folder=folder, week=made.week))


# The same steps as the README's "A workspace of your own" (tests/test_first_send.py follows them).
NEXT_STEPS = """
.env holds a generated GBALETTER_SECRET (git-ignored; the environment wins over it).
Next, from {folder}:
  1. edit gbaletter.toml: name, sender, reply_to, base_url, postal_address, list_id, [smtp]
  2. gbaletter doctor          (settings, relay, DNS: each problem with its fix)
  3. a trial that stays on this machine:
       gbaletter smtp-sink --maildir trial-mail &
       export GBALETTER_SMTP_HOST=127.0.0.1 GBALETTER_SMTP_PORT=8025 GBALETTER_SMTP_TLS=none
       gbaletter subscribers add you@your-domain --tag technology
       gbaletter issue new --week {week} --trial
       gbaletter issue build trial-{week}
       gbaletter issue send trial-{week} --segment tag:technology    (lands in trial-mail/new/)
  4. the real send: unset those GBALETTER_SMTP_* variables, `gbaletter doctor` with no errors, then
       gbaletter issue new --week <week>; gbaletter issue build <week>
       gbaletter issue send <week> --segment <segment>"""
