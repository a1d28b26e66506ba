"""`gbaletter posts ...`: what content is there, and importing more from the website's feed."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

from ..errors import PartlyDone
from ..languages import OPENCC_TO
from .lazy import LazyGroup
from .context import AppContext, pass_app
from .output import counted, json_option, print_json, week_id

if TYPE_CHECKING:
    from ..content.editions import Story


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


def _stories(app: AppContext) -> dict[str, Story]:
    """Every post and briefs file as a story with its texts; one line per bad file (exit 1)."""
    from ..content import load_briefs, load_posts
    from ..content.editions import brief_stories, post_stories
    from ..errors import GbaletterError

    ws = app.workspace
    languages = ws.config.newsletter.languages
    posts = post_stories(load_posts(ws.posts_dir, ws.tz), languages)
    briefs = brief_stories(load_briefs(ws.briefs_dir, ws.tz), languages)
    clashes = sorted(posts.keys() & briefs.keys())
    if clashes:
        raise GbaletterError(f"'{clashes[0]}' is both a post and a briefs file; rename one")
    return {**posts, **briefs}


@group.command("translations")
@click.option("--week", callback=week_id, help="Only stories dated in this ISO week, e.g. 2019-W26.")
@pass_app
def translations(app: AppContext, week: str | None) -> None:
    """Each story's text in every language of the desk: original, translated, converted, or missing."""
    from rich.console import Console
    from rich.table import Table

    from ..content.select import window

    ws = app.workspace
    span = window(ws.tz, week=week) if week else None
    languages = ws.config.newsletter.languages
    table = Table(box=None, pad_edge=False)
    for column in ("id", *languages):
        table.add_column(column)
    converted = 0
    for key, story in sorted(_stories(app).items()):
        first = story.original[0] if isinstance(story.original, list) else story.original
        if span and not span.contains(first.date):
            continue
        cells = []
        for language in languages:
            if language == story.language:
                cells.append("original")
            elif language in story.converted:
                cells.append(f"converted ({story.converted[language]})")
                converted += 1
            else:
                cells.append("translated" if language in story.texts else "-")
        table.add_row(key, *cells)
    console = Console(width=200 if not Console().is_terminal else None)
    console.print(table)
    if converted:
        console.print(f"{converted} converted by OpenCC: review them, then remove 'converted' from each")


@group.command("derive")
@click.argument("story_id", metavar="ID")
@click.option("--to", "target", type=click.Choice(tuple(OPENCC_TO)), required=True,
              help="The Chinese script to write the story in.")
@pass_app
def derive_command(app: AppContext, story_id: str, target: str) -> None:
    """Write a post or briefs file in the other Chinese script with OpenCC, after the glossary."""
    from ..content.conversion import workspace_converter
    from ..content.editions import derive
    from ..errors import GbaletterError
    from ..fsutil import write_atomic

    ws = app.workspace
    if target not in ws.config.newsletter.languages:
        raise GbaletterError(f"{target} is not one of the desk's languages "
                             f"({', '.join(ws.config.newsletter.languages)})")
    stories = _stories(app)
    if story_id not in stories:
        raise GbaletterError(f"no post or briefs file '{story_id}' (a translation's id is its original's)")
    converter = workspace_converter(ws)
    path, text = derive(stories[story_id], target, converter)
    write_atomic(path, text)
    click.echo(f"wrote {ws.display(path)} ({target}, converted by {converter.configuration(target)}; review it)")
