"""`gbaletter issue report ID` and `gbaletter report`: what readers did, in the terminal and as HTML."""

from __future__ import annotations

import click

from .context import AppContext, pass_app
from .output import console


@click.command("report")
@click.argument("issue_id")
@pass_app
def issue_report(app: AppContext, issue_id: str) -> None:
    """The funnel, clicks per story and link (people and machines apart), the first 72 hours;
    also written to issues/<ID>/report.html."""
    from ..report.run import report_issue
    from ..report.terminal import issue_tables

    report, path = report_issue(app.workspace, issue_id)
    console().print(issue_tables(report))
    click.echo(f"wrote {app.workspace.display(path)}")


@click.command("report")
@pass_app
def report(app: AppContext) -> None:
    """List size, bounce, complaint and unsubscribe rates per issue; also issues/report.html."""
    from ..report.run import report_list
    from ..report.terminal import list_table

    result, path = report_list(app.workspace)
    console().print(list_table(result))
    click.echo(f"wrote {app.workspace.display(path)}")
