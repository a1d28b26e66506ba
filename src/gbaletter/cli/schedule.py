"""`gbaletter issue schedule/schedules` and `gbaletter scheduler`: sends at a set time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..errors import GbaletterError
from .output import week_id
from .context import AppContext, pass_app

if TYPE_CHECKING:
    from ..schedule.runner import Outcome


def _print_schedules(app: AppContext) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..db import open_database
    from ..schedule.policy import local_label
    from ..schedule.service import list_schedules

    ws = app.workspace
    schedules = list_schedules(open_database(ws))
    if not schedules:
        click.echo("no schedules")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("id", "issue", "segment", f"at ({ws.tz.key})", "state", "outcome"):
        table.add_column(column)
    for s in schedules:
        table.add_row(str(s.id), s.issue_id, s.segment, local_label(s.send_at, ws.tz), s.state,
                      s.outcome or (f"claimed by {s.claimed_by}" if s.claimed_by else ""))
    Console(width=200).print(table)


@click.command("schedule")
@click.argument("issue_id", required=False, callback=week_id)
@click.option("--segment", help="Segment name or expression, as for `issue send`.")
@click.option("--at", "at", help='When, in the workspace timezone: "2026-12-04 08:00".')
@click.option("--list", "show", is_flag=True, help="List the schedules (as `issue schedules`).")
@click.option("--cancel", "cancel_id", type=int, metavar="SCHEDULE", help="Cancel a pending schedule by its id.")
@pass_app
def schedule(app: AppContext, issue_id: str | None, segment: str | None, at: str | None, show: bool,
             cancel_id: int | None) -> None:
    """Send ISSUE_ID to a segment at a set time (the scheduler does the sending)."""
    from ..db import open_database
    from ..schedule.policy import local_label
    from ..schedule.service import add_schedule, cancel_schedule

    if show:
        _print_schedules(app)
        return
    if cancel_id is not None:
        cancelled = cancel_schedule(open_database(app.workspace), cancel_id)
        click.echo(f"cancelled schedule {cancelled.id} (issue {cancelled.issue_id} to {cancelled.segment})")
        return
    if not (issue_id and segment and at):
        raise GbaletterError('give ISSUE_ID, --segment and --at "YYYY-MM-DD HH:MM" (or --list, or --cancel ID)')
    ws = app.workspace
    made = add_schedule(ws, open_database(ws), issue_id, segment, at)
    click.echo(f"schedule {made.id}: issue {made.issue_id} to {made.segment} at {local_label(made.send_at, ws.tz)}; "
               "`gbaletter scheduler` sends it")


@click.command("schedules")
@pass_app
def schedules(app: AppContext) -> None:
    """List the scheduled sends, past and pending."""
    _print_schedules(app)


def _report(outcome: Outcome) -> None:
    click.echo(("error: " if outcome.problem else "") + outcome.line(), err=outcome.problem)


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Send what is due now and exit (for cron or a systemd timer); "
              "exit 1 if a schedule was missed, failed or left incomplete.")
@pass_app
def scheduler(app: AppContext, once: bool) -> None:
    """Send scheduled issues when they are due; runs until SIGTERM unless --once."""
    from ..db import open_database
    from ..schedule.runner import run_due, run_forever

    ws = app.workspace
    db = open_database(ws)
    if once:
        outcomes = run_due(ws, db)
        for outcome in outcomes:
            _report(outcome)
        if any(o.problem for o in outcomes):
            click.get_current_context().exit(1)
        return
    click.echo(f"scheduler: looking every {ws.config.schedule.poll_interval} (SIGTERM stops)", err=True)
    run_forever(ws, db, _report)
    click.echo("scheduler: stopped", err=True)
