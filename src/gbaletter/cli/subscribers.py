"""`gbaletter subscribers ...`: manage the list by hand, import and export it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import PartlyDone
from ..subscribers.status import Status
from .lazy import LazyGroup
from .context import AppContext, pass_app
from .output import (actor, counted, database, json_option, local_time, print_fields,
                     print_json, print_table, selection, selection_options)

if TYPE_CHECKING:
    from ..subscribers.importer import CsvImport, ImportReport
    from ..subscribers.segments import Member

PROGRESS_MIN_BYTES = 1 << 20


@click.group("subscribers", cls=LazyGroup)
def group() -> None:
    """The subscriber list."""


def _attributes(pairs: tuple[str, ...]) -> dict[str, str]:
    attributes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--attr")
        attributes[key.strip()] = value.strip()
    return attributes


@group.command("add")
@click.argument("email")
@click.option("--name", default="", help="The person's name.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--attr", "attrs", multiple=True, metavar="KEY=VALUE",
              help="An attribute, e.g. lang=en (repeatable).")
@click.option("--status", type=click.Choice([s.value for s in Status]), default="active",
              show_default=True, help="Status of the new subscriber.")
@click.option("--source", default="", help="Where the consent came from (default: added by you).")
@click.option("--language", default="", metavar="LANG",
              help="The edition they read, e.g. zh-Hant or zh-HK (default: the desk's first language).")
@pass_app
def add(app: AppContext, email: str, name: str, tags: tuple[str, ...], attrs: tuple[str, ...],
        status: str, source: str, language: str) -> None:
    """Add one address."""
    from ..languages import normalize_language
    from ..subscribers.service import add_subscriber

    languages = app.workspace.config.newsletter.languages
    with database(app).session() as session:
        subscriber = add_subscriber(session, email, name=name, tags=tags,
                                    attributes=_attributes(attrs), status=Status(status),
                                    source=source or f"added by {actor()}",
                                    language=normalize_language(language, languages) if language
                                    else languages[0])
        click.echo(f"added {subscriber.email} ({subscriber.status})")


@group.command("show")
@click.argument("email")
@json_option
@pass_app
def show(app: AppContext, email: str, as_json: bool) -> None:
    """One subscriber, with the history of its status (and its clicks in per-subscriber tracking mode)."""
    from ..feedback.records import unverified_reports
    from ..subscribers.preferences import is_paused
    from ..subscribers.service import subscriber_history
    from ..tracking.events import subscriber_clicks
    from ..tracking.rules import HUMAN

    tz = app.workspace.tz
    with database(app).reader() as session:
        history = subscriber_history(session, email)
        subscriber, suppression = history.subscriber, history.suppression
        clicks = None if subscriber is None else subscriber_clicks(app.workspace, session, subscriber.id)
        unverified = [] if subscriber is None else unverified_reports(session, subscriber_id=subscriber.id)
        if as_json:
            print_json({
                "subscriber": None if subscriber is None else {
                    "email": subscriber.email, "name": subscriber.name,
                    "status": subscriber.status.value, "language": subscriber.language,
                    "tags": subscriber.tag_names,
                    "attributes": subscriber.attributes, "consent_source": subscriber.consent_source,
                    "created_at": subscriber.created_at.isoformat(),
                    "updated_at": subscriber.updated_at.isoformat(),
                    "status_changed_at": subscriber.status_changed_at.isoformat(),
                    "paused_until": subscriber.paused_until and subscriber.paused_until.isoformat()},
                "events": [{"at": e.at.isoformat(), "actor": e.actor, "old_status": e.old_status.value,
                            "new_status": e.new_status.value, "reason": e.reason}
                           for e in history.events],
                "suppression": None if suppression is None else {
                    "reason": suppression.reason, "detail": suppression.detail,
                    "since": suppression.created_at.isoformat()},
                "unverified_reports": [
                    {"arrived_at": u.arrived_at.isoformat(), "issue": u.issue_id, "kind": u.kind,
                     "status": u.status, "reporting_mta": u.reporting_mta, "diagnostic": u.diagnostic}
                    for u in unverified],
                "clicks": None if clicks is None else [
                    {"issue": c.issue_id, "at": c.at.isoformat(), "url": c.url, "title": c.title,
                     "verdict": c.verdict} for c in clicks]})
            return
        fields = []
        if subscriber is None:
            fields.append(("email", f"{email.strip()}: not on the list (removed)"))
        else:
            attributes = ", ".join(f"{k}={v}" for k, v in sorted(subscriber.attributes.items()))
            fields += [("email", subscriber.email), ("name", subscriber.name or "-"),
                       ("status", f"{subscriber.status} since "
                                  f"{local_time(subscriber.status_changed_at, tz)}"),
                       ("language", subscriber.language),
                       ("paused", f"until {local_time(subscriber.paused_until, tz)}"
                                  if subscriber.paused_until and is_paused(subscriber) else "no"),
                       ("tags", ", ".join(subscriber.tag_names) or "-"),
                       ("attributes", attributes or "-"),
                       ("joined", f"{local_time(subscriber.created_at, tz)} "
                                  f"({subscriber.consent_source or 'no source recorded'})")]
        fields.append(("suppressed", "no" if suppression is None else
                       f"yes, {suppression.reason} since {local_time(suppression.created_at, tz)}"
                       + (f": {suppression.detail}" if suppression.detail else "")))
        print_fields(fields)
        if subscriber is not None:
            click.echo("\nhistory")
            rows = [(local_time(subscriber.created_at, tz), f"joined as {history.joined_as}",
                     subscriber.consent_source, "")]
            rows += [(local_time(e.at, tz), f"{e.old_status} -> {e.new_status}"
                      if e.old_status != e.new_status else "changed", e.actor, e.reason)
                     for e in history.events]
            print_table(("when", "what", "who", "why"), rows)
            if unverified:
                click.echo("\nunverified reports (nobody changed: no VERP token, none of our Message-IDs)")
                print_table(("dated", "issue", "claims", "reported by"), [
                    (local_time(u.arrived_at, tz), u.issue_id,
                     " ".join(filter(None, [u.kind.replace("_", " "), u.status, u.diagnostic[:120]])),
                     u.reporting_mta or "-") for u in unverified])
            if clicks is None:
                click.echo('\nclicks: not kept per subscriber ([tracking] mode = "aggregate")')
            elif clicks:
                click.echo("\nclicks")
                print_table(("when", "issue", "link", "by"), [
                    (local_time(c.at, tz), c.issue_id, c.title or c.url,
                     "a person" if c.verdict == HUMAN else f"a machine ({c.verdict})") for c in clicks])
            else:
                click.echo("\nclicks: none")


def _members(app: AppContext, segment: str | None, where: str | None,
             limit: int | None) -> Iterator[Member]:
    from ..subscribers.segments import require_segment, segment_filter, stream_members

    chosen = selection(segment, where)
    with database(app).reader() as session:
        if segment:
            require_segment(session, segment)
        ids = segment_filter(session, chosen, include_suppressed=True) if chosen else None
        yield from stream_members(session, ids, limit=limit)


@group.command("list")
@selection_options
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True,
              help="At most this many (0: all).")
@json_option
@pass_app
def list_subscribers(app: AppContext, segment: str | None, where: str | None, limit: int,
                     as_json: bool) -> None:
    """List subscribers, oldest first: all of them, or a segment's members."""
    from ..subscribers.export import member_json

    members = _members(app, segment, where, limit or None)
    if as_json:
        click.echo("[", nl=False)
        for i, member in enumerate(members):
            click.echo(("," if i else "") + "\n  " + member_json(member), nl=False)
        click.echo("\n]")
        return
    tz = app.workspace.tz
    shown = [(m.email, m.name, m.status.value, m.language, ", ".join(m.tags), local_time(m.created_at, tz))
             for m in members]
    print_table(("email", "name", "status", "language", "tags", "joined"), shown)
    more = f" (the first {limit}; --limit 0 for all)" if limit and len(shown) == limit else ""
    click.echo(f"{counted(len(shown), 'subscriber')}{more}")


@group.command("tag")
@click.argument("email")
@click.argument("tags", nargs=-1, required=True)
@pass_app
def tag(app: AppContext, email: str, tags: tuple[str, ...]) -> None:
    """Give a subscriber one or more tags."""
    from ..subscribers.service import tag_subscriber

    with database(app).session() as session:
        added = tag_subscriber(session, email, tags)
    click.echo(f"tagged: {', '.join(added)}" if added else "it already had these tags")


@group.command("untag")
@click.argument("email")
@click.argument("tags", nargs=-1, required=True)
@pass_app
def untag(app: AppContext, email: str, tags: tuple[str, ...]) -> None:
    """Take one or more tags away from a subscriber."""
    from ..subscribers.service import untag_subscriber

    with database(app).session() as session:
        removed = untag_subscriber(session, email, tags)
    click.echo(f"untagged: {', '.join(removed)}" if removed else "it had none of these tags")


_REASON = click.option("--reason", default="", help="Why (kept in the subscriber's history).")


@group.command("set-language")
@click.argument("email")
@click.argument("language")
@_REASON
@pass_app
def set_language_command(app: AppContext, email: str, language: str, reason: str) -> None:
    """Give a subscriber the edition in LANGUAGE (en, zh-Hant, zh-Hans; zh-HK, zh-CN... are read)."""
    from ..subscribers.service import require_subscriber, set_language

    with database(app).session() as session:
        subscriber = require_subscriber(session, email)
        changed = set_language(session, subscriber, language, actor=actor(), reason=reason,
                               languages=app.workspace.config.newsletter.languages)
        now = subscriber.language
    click.echo(f"language: {now}" if changed else f"already {now}")


@group.command("unsubscribe")
@click.argument("email")
@_REASON
@pass_app
def unsubscribe(app: AppContext, email: str, reason: str) -> None:
    """Unsubscribe an address (it goes on the suppression list)."""
    from ..subscribers.service import set_status

    with database(app).session() as session:
        changed = set_status(session, email, Status.UNSUBSCRIBED, actor=actor(),
                             reason=reason or "unsubscribed by an admin")
    click.echo("unsubscribed" if changed else "already unsubscribed")


@group.command("resubscribe")
@click.argument("email")
@_REASON
@pass_app
def resubscribe_command(app: AppContext, email: str, reason: str) -> None:
    """Make an address active again and take it off the suppression list (only on their request)."""
    from ..subscribers.service import resubscribe

    with database(app).session() as session:
        changed = resubscribe(session, email, actor=actor(), reason=reason)
    click.echo("resubscribed" if changed else "already active")


@group.command("remove")
@click.argument("email")
@_REASON
@pass_app
def remove(app: AppContext, email: str, reason: str) -> None:
    """Erase a person's data; a hashed entry stays so the address is never mailed again."""
    from ..subscribers.service import remove_subscriber

    with database(app).erasing() as session:
        remove_subscriber(session, email, actor=actor(), reason=reason)
    click.echo("removed (the address stays on the suppression list)")


@group.command("pause")
@click.argument("email")
@click.option("--weeks", type=click.IntRange(min=1, max=520), default=4, show_default=True,
              help="How long sends skip the subscriber.")
@click.option("--until", "until_day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Skip them until this day instead (in the newsletter's timezone).")
@pass_app
def pause_command(app: AppContext, email: str, weeks: int, until_day: datetime | None) -> None:
    """Skip a subscriber in every send for a while; they resume by themselves."""
    from ..db import utcnow
    from ..subscribers.preferences import pause
    from ..subscribers.service import require_subscriber


    until = (until_day.replace(tzinfo=app.workspace.tz) if until_day
             else utcnow() + timedelta(weeks=weeks))
    with database(app).session() as session:
        pause(session, require_subscriber(session, email), until, actor=actor())
    click.echo(f"paused until {local_time(until, app.workspace.tz)}")


@group.command("resume")
@click.argument("email")
@pass_app
def resume_command(app: AppContext, email: str) -> None:
    """End a subscriber's pause now."""
    from ..subscribers.preferences import resume
    from ..subscribers.service import require_subscriber


    with database(app).session() as session:
        resumed = resume(session, require_subscriber(session, email), actor=actor())
    click.echo("resumed" if resumed else "it was not paused")


@group.command("change-address")
@click.argument("email")
@click.argument("new_email")
@pass_app
def change_address_command(app: AppContext, email: str, new_email: str) -> None:
    """Move a subscriber, with their history, to a new address (not on the list, not suppressed)."""
    from ..subscribers.preferences import change_address
    from ..subscribers.service import require_subscriber


    with database(app).session() as session:
        subscriber = require_subscriber(session, email)
        change_address(session, subscriber, new_email, actor=actor())
        new = subscriber.email
    click.echo(f"changed: {new} (the history stays with it)")


def _print_report(app: AppContext, report: ImportReport) -> None:
    rejects = app.workspace.display(report.rejects_file) if report.rejects_file else ""
    print_fields([("added", f"{report.added:,}"), ("updated", f"{report.updated:,}"),
                  ("duplicates", f"{report.duplicates:,}"), ("suppressed", f"{report.suppressed:,}"),
                  ("rejected", f"{report.rejected:,}" + (f" (see {rejects})" if rejects else ""))])


@group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tag", "tags", multiple=True, help="Also give every imported row this tag.")
@click.option("--status", type=click.Choice(["active", "unconfirmed"]), default="active",
              show_default=True, help="Status of new subscribers when the file has no status column.")
@click.option("--dry-run", is_flag=True, help="Check and count everything, save nothing.")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path),
              help="Where rejected rows go (default: FILE.rejected.csv beside FILE).")
@click.option("--batch-size", type=click.IntRange(min=1),
              help="Rows per transaction (default: the importer's batch size; smaller: shorter waits for "
                   "a send running meanwhile). Without it, an import into an empty list is one transaction.")
@json_option
@pass_app
def import_command(app: AppContext, file: Path, tags: tuple[str, ...], status: str,
                   dry_run: bool, rejects: Path | None, batch_size: int | None, as_json: bool) -> None:
    """Import a CSV export (Mailchimp, listmonk, or email,name,tags)."""
    from ..db import open_database
    from ..subscribers.importer import BATCH_SIZE, IMPORT_CACHE_MIB, CsvImport

    job = CsvImport(open_database(app.workspace, cache_mib=IMPORT_CACHE_MIB), file, tags=tags,
                    status=Status(status), dry_run=dry_run, rejects_path=rejects,
                    actor=f"import {file.name} ({actor()})",
                    batch_size=batch_size or BATCH_SIZE, batched=batch_size is not None,
                    languages=app.workspace.config.newsletter.languages)
    try:
        with _progress_bar(job) as on_batch:
            report = job.run(on_batch, on_interrupt=lambda: _say_stopping(job))
    except KeyboardInterrupt:
        report = job.report
        if report.one_transaction:
            click.echo("stopped: nothing was saved (an import into an empty list saves its rows at "
                       "the end); run the same command again", err=True)
            raise
        click.echo(f"stopped at line {report.lines_done:,}: {counted(report.saved, 'subscriber')} "
                   f"saved ({report.added:,} added, {report.updated:,} updated); "
                   "run the same command again to finish", err=True)
        raise
    if as_json:
        print_json(report.as_dict())
    else:
        if dry_run:
            click.echo("dry run: nothing was saved")
        _print_report(app, report)
    if report.rejected:
        assert report.rejects_file is not None  # every rejected row was written there
        raise PartlyDone(f"{counted(report.rejected, 'row')} rejected; the reasons are in "
                           f"{app.workspace.display(report.rejects_file)}")


def _say_stopping(job: CsvImport) -> None:
    # in a signal handler, perhaps in the middle of a write to stderr: one unbuffered write
    if job.finishing:
        os.write(2, b"\nsaving the import, nearly done (Ctrl-C again stops at once, saving nothing)\n")
    elif job.report.one_transaction:
        os.write(2, b"\nstopping without saving anything (an import into an empty list saves at its end)\n")
    else:
        os.write(2, b"\nstopping after the batch being saved (Ctrl-C again stops at once, losing it)\n")


@contextmanager
def _progress_bar(job: CsvImport) -> Iterator[Callable[[ImportReport], None] | None]:
    """A progress bar on stderr for large files when a person is watching; else nothing."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if not sys.stderr.isatty() or job.path.stat().st_size < PROGRESS_MIN_BYTES:
        yield None
        return
    # No refresh thread (auto_refresh): the importer forks its parser process.
    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True, auto_refresh=False) as progress:
        task = progress.add_task("import", total=None)
        yield lambda report: progress.update(task, completed=report.lines_done,
                                             total=report.lines_total, refresh=True)


@group.command("export")
@selection_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (default: standard output).")
@pass_app
def export(app: AppContext, segment: str | None, where: str | None, output: Path | None) -> None:
    """Export subscribers as CSV (re-importable): all of them, or a segment's members."""
    from ..subscribers.export import export_csv

    members = _members(app, segment, where, None)
    count = export_csv(members, output)
    if output is not None:
        click.echo(f"{counted(count, 'subscriber')} written to {app.workspace.display(output)}")
