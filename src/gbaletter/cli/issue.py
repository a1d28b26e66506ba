"""`gbaletter issue ...`: assemble, build, check, preview and screenshot an issue."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

import click

from .context import AppContext, pass_app
from .lazy import LazyGroup
from .output import json_option, print_json, print_table, week_id

if TYPE_CHECKING:
    from ..issue.check import Report as CheckReport


@click.group("issue", cls=LazyGroup, lazy={"send": "gbaletter.cli.send:send",
                                            "status": "gbaletter.cli.send:status",
                                            "report": "gbaletter.cli.report:issue_report",
                                            "schedule": "gbaletter.cli.schedule:schedule",
                                            "schedules": "gbaletter.cli.schedule:schedules"})
def group() -> None:
    """Assemble, build and send an issue."""


@group.command("new")
@click.option("--week", callback=week_id, help="ISO week, e.g. 2019-W26 (the issue id defaults to it).")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First day (YYYY-MM-DD).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last day, included.")
@click.option("--tag", "tags", multiple=True, help="Only content with any of these tags "
              "(default: the config's default_tags).")
@click.option("--id", "issue_id", callback=week_id, help="Issue id (default: the week, or FROM_TO).")
@click.option("--force", is_flag=True, help="Replace an existing issue's manifest.")
@click.option("--trial", is_flag=True,
              help="A trial issue (id trial-WEEK, number 0) for a first send into a local sink: "
                   "the first real issue is still #1.")
@pass_app
def new(app: AppContext, week: str | None, start: datetime | None, end: datetime | None,
        tags: tuple[str, ...], issue_id: str | None, force: bool, trial: bool) -> None:
    """Write issues/<ID>/issue.yaml from the posts and briefs of a week or date range."""
    from ..content.select import window
    from ..issue.assemble import new_issue

    ws = app.workspace
    span = window(ws.tz, week=week, start=start.date() if start else None,
                  end=end.date() if end else None)
    created = new_issue(ws, span, tags, issue_id=issue_id, force=force, trial=trial)
    m = created.manifest
    click.echo(f"issue {m.id} ({'a trial' if trial else f'#{m.number}'}): {len(m.featured)} featured, "
               f"{len(m.posts)} more posts, "
               f"{len(m.briefs)} briefs")
    click.echo(f"edit {ws.display(created.path)}, then run: gbaletter issue build {m.id}")


@group.command("build")
@click.argument("issue_id", callback=week_id)
@click.option("--force", is_flag=True, help="Build even if the HTML exceeds Gmail's clipping size.")
@pass_app
def build(app: AppContext, issue_id: str, force: bool) -> None:
    """Render the issue into build/email.html, email.txt and email.mjml."""
    from ..issue.built import read_build, state_of
    from ..issue.check import check_build
    from ..issue.render import build_issue

    app.freeze_imports()
    ws = app.workspace
    result = build_issue(ws, issue_id, force=force)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"built {ws.display(result.folder / 'email.html')} "
               f"({result.html_bytes / 1024:.1f} KB) and email.txt")
    built = read_build(ws, issue_id, state_of(ws, result))
    report = check_build(ws, built).without("html-size")  # the build warned about size itself
    if report.findings:
        _print_report(report, err=True)


def _print_report(report: CheckReport, err: bool = False) -> None:
    for line in report.lines():
        click.echo(line, err=err)
    click.echo(report.summary(), err=err)


@group.command("check")
@click.argument("issue_id", callback=week_id)
@click.option("--no-browser", is_flag=True,
              help="Skip what is measured in Chromium (phone layout, contrast, text size).")
@json_option
@pass_app
def check(app: AppContext, issue_id: str, no_browser: bool, as_json: bool) -> None:
    """Report what in the built issue would hurt readers or deliverability; exit 1 on errors."""
    from ..issue.check import check_issue
    from ..issue.links import built_links

    report = check_issue(app.workspace, issue_id, browser=not no_browser)
    links = built_links(app.workspace, issue_id)
    if as_json:
        print_json({"issue": issue_id, "errors": len(report.errors), "warnings": len(report.warnings),
                    "findings": [dataclasses.asdict(f) for f in report.findings],
                    "links": [dataclasses.asdict(link) for link in links]})
        if report.errors:
            click.get_current_context().exit(1)
        return
    tracking = "tracked" if app.workspace.config.tracking.clicks == "on" else "not tracked: [tracking] clicks = off"
    click.echo(f"{len(links)} links ({tracking}); unsubscribe, archive and other list links are never tracked:")
    print_table(("id", "section", "story", "url"), ((link.id, link.section, link.story, link.url) for link in links))
    click.echo()
    _print_report(report)
    if report.errors:
        click.get_current_context().exit(1)


@group.command("screenshot")
@click.argument("issue_id", callback=week_id)
@pass_app
def screenshot(app: AppContext, issue_id: str) -> None:
    """Write build/desktop.png (800 px) and build/mobile.png (375 px), light and dark, with Chromium."""
    from ..issue.screenshot import take_screenshots

    ws = app.workspace
    for path in take_screenshots(ws, issue_id):
        click.echo(f"wrote {ws.display(path)}")


@group.command("preview")
@click.argument("issue_id", callback=week_id)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0: any free port).")
@pass_app
def preview(app: AppContext, issue_id: str, port: int) -> None:
    """Serve the issue at desktop and phone widths, light and dark, on 127.0.0.1, rebuilt as it changes."""
    from ..issue.preview import open_preview

    server = open_preview(app.workspace, issue_id, port, on_event=lambda message: click.echo(message, err=True))
    click.echo(f"previewing issue {issue_id} at {server.url} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
