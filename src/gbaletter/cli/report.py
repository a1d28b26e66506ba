"""`gbaletter issue report ID` and `gbaletter report`: what readers did, in the terminal and as HTML."""

from __future__ import annotations

import click

from ..report.run import report_issue, report_list
from ..report.terminal import issue_tables, list_table
from .context import AppContext, pass_app
from .output import console, week_id


@click.command("report")
@click.argument("issue_id", callback=week_id)
@pass_app
def issue_report(app: AppContext, issue_id: str) -> None:
    """The funnel, clicks per story and link (people and machines apart), the first 72 hours;
    also written to issues/<ID>/report.html."""
    report, path = report_issue(app.workspace, issue_id)
    console().print(issue_tables(report))
    click.echo(f"wrote {app.workspace.display(path)}")


@click.command("report")
@pass_app
def report(app: AppContext) -> None:
    """List size, bounce, complaint and unsubscribe rates per issue; also issues/report.html."""
    result, path = report_list(app.workspace)
    console().print(list_table(result))
    click.echo(f"wrote {app.workspace.display(path)}")
