"""`gbaletter posts ...`: what content is there, and importing more from the website's feed."""

from __future__ import annotations

from datetime import datetime

import click

from ..errors import PartlyDone
from .lazy import LazyGroup
from .context import AppContext, pass_app
from .output import counted, json_option, print_json, week_id


@click.group("posts", cls=LazyGroup)
def group() -> None:
    """Posts and brief items in the workspace."""


@group.command("list")
@click.option("--tag", "tags", multiple=True, help="Only items with any of these tags.")
@click.option("--week", callback=week_id, help="Only items dated in this ISO week, e.g. 2019-W26.")
@json_option
@pass_app
def list_posts(app: AppContext, tags: tuple[str, ...], week: str | None, as_json: bool) -> None:
    """List posts and briefs, oldest first."""
    from rich.console import Console
    from rich.table import Table

    from ..content import load_briefs, load_posts
    from ..content.select import matching, window

    ws = app.workspace
    span = window(ws.tz, week=week) if week else None
    posts = matching(load_posts(ws.posts_dir, ws.tz), span, tags)
    briefs = matching(load_briefs(ws.briefs_dir, ws.tz), span, tags)
    if as_json:
        print_json({"posts": [{"id": p.slug, "date": p.date.astimezone(ws.tz).isoformat(), "title": p.title,
                               "tags": list(p.tags), "url": p.url} for p in posts],
                    "briefs": [{"id": b.id, "date": b.date.astimezone(ws.tz).isoformat(), "lead": b.lead,
                                "tags": list(b.tags), "link": b.link} for b in briefs]})
        return
    table = Table(box=None, pad_edge=False)
    for column in ("kind", "date", "id", "title", "tags"):
        table.add_column(column)
    for post in posts:
        table.add_row("post", f"{post.date.astimezone(ws.tz):%Y-%m-%d}", post.slug, post.title,
                      ", ".join(post.tags))
    for brief in briefs:
        table.add_row("brief", f"{brief.date.astimezone(ws.tz):%Y-%m-%d}", brief.id, brief.lead,
                      ", ".join(brief.tags))
    console = Console(width=200 if not Console().is_terminal else None)
    console.print(table)
    console.print(f"{counted(len(posts), 'post')}, {counted(len(briefs), 'brief')}")


@group.command("import")
@click.argument("source")
@click.option("--tag", "tags", multiple=True, help="Add this tag to every imported item (repeatable).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Skip entries dated before this day (YYYY-MM-DD, workspace timezone).")
@pass_app
def import_posts(app: AppContext, source: str, tags: tuple[str, ...], since: datetime | None) -> None:
    """Import posts and briefs from an RSS or Atom feed (a file or an http(s) URL).

    Entries already imported (same guid) are updated in place; unchanged ones are left alone.
    """
    from ..content.feedimport import import_feed

    report = import_feed(app.workspace, source, tags, since.date() if since else None)
    for line in report.warnings:
        click.echo(f"warning: {line}", err=True)
    for line in report.skipped:
        click.echo(f"skipped {line}", err=True)
    for line in report.written:
        click.echo(line)
    click.echo(report.summary)
    if report.skipped:
        raise PartlyDone(f"{counted(len(report.skipped), 'entry', 'entries')} skipped (the reasons are above)")
