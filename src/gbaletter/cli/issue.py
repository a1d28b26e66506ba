"""`gbaletter issue ...`: assemble, build (and later preview, check, send) an issue."""

from __future__ import annotations

from datetime import datetime

import click

from ..content.select import window
from ..issue.assemble import new_issue
from ..issue.render import build_issue
from .context import AppContext, pass_app


@click.group("issue")
def group() -> None:
    """Assemble, build and send an issue."""


@group.command("new")
@click.option("--week", help="ISO week, e.g. 2019-W26 (the issue id defaults to it).")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First day (YYYY-MM-DD).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last day, included.")
@click.option("--tag", "tags", multiple=True, help="Only content with any of these tags "
              "(default: the config's default_tags).")
@click.option("--id", "issue_id", help="Issue id (default: the week, or FROM_TO).")
@click.option("--force", is_flag=True, help="Replace an existing issue's manifest.")
@pass_app
def new(app: AppContext, week: str | None, start: datetime | None, end: datetime | None,
        tags: tuple[str, ...], issue_id: str | None, force: bool) -> None:
    """Write issues/<ID>/issue.yaml from the posts and briefs of a week or date range."""
    ws = app.workspace
    span = window(ws.tz, week=week, start=start.date() if start else None,
                  end=end.date() if end else None)
    created = new_issue(ws, span, tags, issue_id=issue_id, force=force)
    m = created.manifest
    click.echo(f"issue {m.id} (#{m.number}): {len(m.featured)} featured, {len(m.posts)} more posts, "
               f"{len(m.briefs)} briefs")
    click.echo(f"edit {ws.display(created.path)}, then run: gbaletter issue build {m.id}")


@group.command("build")
@click.argument("issue_id")
@click.option("--force", is_flag=True, help="Build even if the HTML exceeds Gmail's clipping size.")
@pass_app
def build(app: AppContext, issue_id: str, force: bool) -> None:
    """Render the issue into build/email.html, email.txt and email.mjml."""
    ws = app.workspace
    result = build_issue(ws, issue_id, force=force)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"built {ws.display(result.folder / 'email.html')} "
               f"({result.html_bytes / 1024:.1f} KB) and email.txt")
