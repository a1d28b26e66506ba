"""`gbaletter issue send/status` and `gbaletter smtp-sink`: delivery from the command line.

`send` and `status` belong to the `issue` group, which loads them only when they run.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import GbaletterError
from .context import AppContext, pass_app
from .output import counted, json_option, print_json, week_id

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from click._termui_impl import ProgressBar
    from rich.table import Table

    from ..delivery.journal import Problem
    from ..delivery.leases import WorkerReport
    from ..delivery.sender import SendSummary
    from ..feedback.records import UnverifiedReport

EXIT_INCOMPLETE = 3
# A send reads each journal and subscriber page about once: SQLite's page cache (per connection)
# would only grow the process with the list, so it stays small (imports want a large one). 512 KiB
# reads as many pages from the file as 2 MiB did (20,000 messages: ~8,500 reads either way) and
# keeps ~1.5 MB off the send's peak memory (docs/benchmarks.md).
SEND_CACHE_MIB = 0.5
EXIT_INTERRUPTED = 130


class _ProgressBar:
    """The send's progress on stderr: a bar, sent and failed counts, the rate and the ETA.

    click's progress bar, not rich's: rich.progress and what it loads are ~3 MB of the send
    process's peak memory (docs/benchmarks.md). The sender reports every message; the bar is
    redrawn at most ten times a second, so drawing costs nothing per message.
    """

    def __init__(self) -> None:
        self.bar: ProgressBar[int] | None = None

    def start(self, total: int) -> Callable[[str], None]:
        self.bar = click.progressbar(length=total, label="sending", file=sys.stderr,
                                     show_pos=True, item_show_func=self._counts)
        self.total = total
        self.counts: Counter[str] = Counter()
        self.started = self.shown_at = time.perf_counter()
        self.shown = self.done = 0  # (a count of its own: `Counter.total` is a Python-level sum)
        self.bar.render_progress()  # in a terminal it shows `_counts`, which reads the above
        return self.advance

    def _counts(self, _item: int | None) -> str:
        failed = self.done - self.counts["sent"] - self.counts["skipped"]
        rate = self.done / max(time.perf_counter() - self.started, 1e-6)
        return f"sent {self.counts['sent']} failed {failed} {rate:,.0f}/s"

    def advance(self, state: str) -> None:
        self.counts[state] += 1
        self.done = done = self.done + 1
        now = time.perf_counter()
        if now - self.shown_at < 0.1 and done < self.total:
            return
        assert self.bar is not None  # advance is handed out by start()
        self.bar.update(done - self.shown)
        self.shown, self.shown_at = done, now

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.render_finish()


def _print_summary(summary: SendSummary) -> None:
    """Messages per state, this run's and the whole journal's, aligned (without rich: see _ProgressBar)."""
    from ..delivery.models import State

    rows = [("state", "this run", "whole journal")] + [
        (state.value, str(summary.outcome.get(state.value, 0)), str(summary.totals.get(state.value, 0)))
        for state in State if summary.outcome.get(state.value, 0) or summary.totals.get(state.value, 0)]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    click.echo(f"issue {summary.issue_id} to {summary.segment}")
    for state, run, total in rows:
        click.echo(f"{state:<{widths[0]}}  {run:>{widths[1]}}  {total:>{widths[2]}}")


@click.command("send")
@click.argument("issue_id", callback=week_id)
@click.option("--segment", help="Segment name or expression (e.g. 'tag:technology').")
@click.option("--to", "to_address", help="Send one test copy to this address instead (no journal).")
@click.option("--dry-run", is_flag=True, help="Render and count every message; send nothing.")
@click.option("--concurrency", type=click.IntRange(1, 100), help="SMTP connections (default: config).")
@click.option("--rate", type=click.FloatRange(0),
              help="Messages per second in all, across every worker of the send (default: config; 0 = unlimited).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Sending processes on this host, each with --concurrency connections. The same "
                   "command on other hosts against the same PostgreSQL joins the same send.")
@click.option("--resend-uncertain", is_flag=True,
              help="Also send the uncertain rows: the connection was lost after the whole message went "
                   "out, or a crash left them 'sending' (the server may have them already).")
@click.option("--retry-failed", is_flag=True,
              help="Also send the failed rows: addresses the server could not take as they are "
                   "(e.g. they need SMTPUTF8), after moving to a server that can.")
@click.option("--ignore-check", is_flag=True, help="Send even if `issue check` reports errors.")
@click.option("--include-new", is_flag=True,
              help="On a rerun to the same segment, also send to who joined it since the first run.")
@pass_app
def send(app: AppContext, issue_id: str, segment: str | None, to_address: str | None, dry_run: bool,
         concurrency: int | None, rate: float | None, workers: int, resend_uncertain: bool,
         retry_failed: bool, ignore_check: bool, include_new: bool) -> None:
    """Send a built issue to every active member of a segment; run again to resume."""
    app.defer_collections()
    try:
        from ..db import open_database
        from ..delivery.models import State
        from ..delivery.sender import SendOptions, send_test
        from ..delivery.workers import send_with_workers
    finally:
        app.freeze_imports()  # (collecting again, whatever the imports did)
    ws = app.workspace
    db = open_database(ws, cache_mib=SEND_CACHE_MIB)
    if to_address:
        reply = send_test(ws, db, issue_id, to_address)
        click.echo(f"test copy of {issue_id} sent to {to_address}: {reply}")
        return
    if not segment:
        raise GbaletterError("name a --segment (or --to ADDRESS for a test copy)")
    options = SendOptions.for_workspace(
        ws, segment, concurrency=concurrency, rate=rate, dry_run=dry_run,
        resend_uncertain=resend_uncertain, retry_failed=retry_failed, ignore_check=ignore_check,
        include_new=include_new)
    bar = _ProgressBar()
    try:
        summary = send_with_workers(ws, db, issue_id, options, workers, progress_start=bar.start)
    finally:
        bar.stop()
    if summary.dry_run:
        rendered = (f"; rendered them (largest {summary.message_bytes / 1024:.1f} KB) in "
                    f"{summary.elapsed:.2f} s" if summary.attempted else "")
        click.echo(f"dry run: {counted(summary.attempted, 'message')} would go out now "
                   f"({counted(summary.totals['members'], 'member')} in {segment}){rendered}; nothing sent")
        return
    _print_summary(summary)
    click.echo(f"{counted(summary.attempted, 'message')} handled in {summary.elapsed:.1f} s "
               f"({summary.rate:,.0f}/s)")
    if summary.joined_since and not include_new:
        click.echo(f"a rerun to {segment}: already sent to {counted(summary.totals.get(State.SENT, 0), 'subscriber')}; "
                   f"{summary.joined_since:,} joined it since and were not included "
                   "(--include-new sends to them too)", err=True)
    if summary.uncertain:
        click.echo(f"warning: {counted(len(summary.uncertain), 'message')} may or may not have been delivered "
                   f"(the connection was lost after the message went out, or a send stopped while "
                   f"the server had them): {', '.join(summary.uncertain[:10])}"
                   f"{' ...' if len(summary.uncertain) > 10 else ''}; re-send them with --resend-uncertain",
                   err=True)
    failed = summary.outcome.get(State.FAILED, 0)
    if failed:
        click.echo(f"{counted(failed, 'message')} could not be sent as they are (see gbaletter issue status "
                   f"{issue_id}); send them with --retry-failed once the server can take them", err=True)
    if summary.undone:
        click.echo(f"{counted(summary.undone, 'bounce')} of this run undone: their subscribers are active "
                   "again and their messages queued", err=True)
    if summary.paused:
        click.echo(f"the send paused {summary.paused:.0f} s in all while the relay failed temporarily",
                   err=True)
    if summary.aborted:
        raise GbaletterError(f"send stopped: {summary.aborted}; run the same command again to resume")
    if summary.interrupted:
        click.echo("interrupted: messages in flight were finished; run the same command to resume", err=True)
        raise SystemExit(EXIT_INTERRUPTED)
    if not summary.complete:
        deferred = summary.totals.get(State.DEFERRED, 0)
        if deferred:
            click.echo(f"{counted(deferred, 'message')} deferred by temporary failures; run the same command "
                       "later to retry them", err=True)
        raise SystemExit(EXIT_INCOMPLETE)


@click.command("status")
@click.argument("issue_id", callback=week_id)
@json_option
@pass_app
def status(app: AppContext, issue_id: str, as_json: bool) -> None:
    """Counts per delivery state and the latest errors of an issue's sends."""
    from rich.console import Console
    from rich.table import Table

    from ..db import open_database
    from ..delivery import journal, leases
    from ..delivery.models import State
    from ..feedback.records import issue_feedback, unverified_reports

    db = open_database(app.workspace)
    with db.reader() as session:
        if not journal.has_journal(session, issue_id):
            raise GbaletterError(f"issue {issue_id} has not been sent yet")
        counts = journal.counts(session, issue_id)
        editions = journal.counts_by_edition(session, issue_id)
        problems = journal.problems(session, issue_id, (State.SENDING, State.UNCERTAIN, State.DEFERRED,
                                                        State.FAILED,
                                                        State.BOUNCED))
        workers = leases.workers(session, issue_id)
        later = issue_feedback(session, issue_id)  # what came back by mail (bounces process)
        unverified = unverified_reports(session, issue_id=issue_id)
    if as_json:
        print_json({"issue": issue_id, "states": counts, "editions": editions, "came_back_later": later,
                    "problems": [dataclasses.asdict(p) for p in problems],
                    "workers": [dataclasses.asdict(w) for w in workers],
                    "unverified_reports": [dataclasses.asdict(u) for u in unverified]})
        return
    table = Table(box=None, pad_edge=False)
    table.add_column("state")
    table.add_column("messages", justify="right")
    several = len(editions) > 1
    for edition in editions if several else ():
        table.add_column(edition, justify="right")
    for state, number in counts.items():
        table.add_row(state, str(number), *(str(by_state[state]) for by_state in editions.values() if several))
    console = Console()
    console.print(table)
    if any(later.values()):
        after = Table(title="came back later (gbaletter bounces process)", box=None, pad_edge=False)
        after.add_column("what")
        after.add_column("messages", justify="right")
        for kind, number in later.items():
            after.add_row(kind.replace("_", " "), str(number))
        console.print(after)
    for dated in _dated_tables(app.workspace.tz, unverified, problems, workers):
        console.print(dated)


def _dated_tables(tz: ZoneInfo, unverified: list[UnverifiedReport], problems: list[Problem],
                  workers: list[WorkerReport]) -> Iterator[Table]:
    """The tables of `issue status` that say when: its times in the newsletter's zone `tz`, as
    every other command shows them (the JSON keeps UTC); a table with no row is left out."""
    from rich.table import Table

    if unverified:
        claims = Table(title="unverified reports: nobody changed (no VERP token, none of our Message-IDs)",
                       box=None, pad_edge=False)
        for column in (f"dated ({tz.key})", "address", "claims", "status", "reported by"):
            claims.add_column(column)
        for u in unverified:
            claims.add_row(f"{u.arrived_at.astimezone(tz):%Y-%m-%d %H:%M:%S}", u.email or "(erased)",
                           u.kind.replace("_", " "), u.status or "-", u.reporting_mta or "-")
        yield claims
    if problems:
        errors = Table(title="latest problems", box=None, pad_edge=False)
        for column in (f"when ({tz.key})", "address", "state", "tries", "last reply"):
            errors.add_column(column)
        for p in problems:
            errors.add_row(f"{p.updated_at.astimezone(tz):%Y-%m-%d %H:%M:%S}", p.email, p.state, str(p.attempts),
                           p.reply)
        yield errors
    if workers:
        senders = Table(title=f"senders ({tz.key})", box=None, pad_edge=False)
        for column in ("worker", "started", "last heard of", "finished", "its rows now"):
            senders.add_column(column)
        for w in workers:
            rows = ", ".join(f"{state} {number}" for state, number in sorted(w.rows.items()))
            senders.add_row(w.name, f"{w.started_at.astimezone(tz):%Y-%m-%d %H:%M:%S}",
                            f"{w.heartbeat_at.astimezone(tz):%H:%M:%S}",
                            f"{w.finished_at.astimezone(tz):%H:%M:%S}" if w.finished_at else "no (running or killed)",
                            rows or "-")
        yield senders


@click.command("smtp-sink")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8025, show_default=True, help="Port to listen on.")
@click.option("--maildir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to store received messages in (a Maildir).")
def smtp_sink(host: str, port: int, maildir: Path) -> None:
    """A local SMTP server that stores every message it receives (for demos and trials)."""
    from ..delivery.sink import start_sink

    try:
        controller, handler = start_sink(maildir, host, port)
    except OSError as exc:
        raise GbaletterError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    click.echo(f"smtp-sink listening on {host}:{port}, storing messages in {maildir}/new (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
        click.echo(f"stored {counted(handler.received, 'message')}", err=True)
