"""`gbaletter issue report ID` and `gbaletter report`: what readers did, in the terminal and as HTML."""

from __future__ import annotations

import dataclasses

import click

from .context import AppContext, pass_app
from .output import console, json_option, print_json, week_id


@click.command("report")
@click.argument("issue_id", callback=week_id)
@json_option
@pass_app
def issue_report(app: AppContext, issue_id: str, as_json: bool) -> None:
    """The funnel, clicks per story and link (people and machines apart), the first 72 hours,
    and each edition's figures for an issue sent in several; also written to issues/<ID>/report.html."""
    from ..report.run import report_issue
    from ..report.terminal import issue_tables

    report, path = report_issue(app.workspace, issue_id)
    if as_json:
        print_json({**dataclasses.asdict(report), "click_rate": report.click_rate,
                    "report_html": app.workspace.display(path)})
        return
    console().print(issue_tables(report))
    click.echo(f"wrote {app.workspace.display(path)}")


@click.command("report")
@json_option
@pass_app
def report(app: AppContext, as_json: bool) -> None:
    """List size, bounce, complaint and unsubscribe rates per issue (and per edition); also
    issues/report.html."""
    from ..report.run import report_list
    from ..report.terminal import list_table

    result, path = report_list(app.workspace)
    if as_json:
        print_json({"active_now": result.active_now, "made_at": result.made_at,
                    "report_html": app.workspace.display(path),
                    "issues": [{"issue_id": issue.issue_id, "first_sent": issue.first_sent,
                                "recipients": issue.funnel.recipients, "funnel": dataclasses.asdict(issue.funnel),
                                "editions": {edition: {**dataclasses.asdict(funnel), **funnel.rates()}
                                             for edition, funnel in issue.editions.items()},
                                **issue.funnel.rates()}
                               for issue in result.issues]})
        return
    console().print(list_table(result))
    click.echo(f"wrote {app.workspace.display(path)}")
