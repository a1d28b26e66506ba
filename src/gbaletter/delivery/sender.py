"""A send: a built issue to every member of a segment, once, resumably.

Once per issue, before the first recipient: check the build and lay the message out
(prepare.py), freeze the recipients into the journal, open the connections (failing fast on a
wrong password or an unreachable server, before anything is marked). Then the send loop (loop.py:
claim -> pace -> send -> decide -> record, per row) runs until the rows run out or the send stops,
and the summary reads the journal back. A dry run and a test copy fill the same prepared message
(`prepare.message_for`) and send nothing, or one copy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from ..config import SmtpSettings, Workspace
from ..db import Database
from ..errors import GbaletterError
from ..interrupts import StopRequest
from ..issue.published import keep_sent_copy
from ..links import plain_envelope_sender, signer_for
from ..subscribers.models import Subscriber
from ..subscribers.segments import count_members, segment_filter, why_nobody
from . import journal, leases, tracked
from .guards import refuse_placeholders
from .loop import Progress, SendLoop, run_loop
from .message import PreparedIssue, Recipient
from .models import STILL_TO_GO, State
from .prepare import message_for, prepare_issue
from .processes import gone_from_this_host, process_name
from .smtp import SmtpConnection, SmtpTarget, explain, open_connection, send_one, smtp_target

# the rows a crash or a lost connection left with the server: sent again only on request
UNCERTAIN_STATES = (State.SENDING, State.UNCERTAIN)


@dataclass(frozen=True)
class SendOptions:
    """One send: the segment and this run's choices, over the workspace's `[smtp]` settings
    (attempts, breaker, relay pauses, lease: config.SmtpSettings has their defaults)."""

    segment: str
    smtp: SmtpSettings
    concurrency: int
    rate: float
    dry_run: bool = False
    resend_uncertain: bool = False
    retry_failed: bool = False
    ignore_check: bool = False  # send although `issue check` finds errors
    include_new: bool = False  # a rerun also sends to who joined the segment since (journal.freeze)
    retry_delay: float = 1.0  # first backoff of a row; doubles with every attempt

    @classmethod
    def for_workspace(cls, ws: Workspace, segment: str, concurrency: int | None = None,
                      rate: float | None = None, **choices: bool) -> SendOptions:
        """The [smtp] settings, with --concurrency and --rate where given."""
        smtp = ws.config.smtp
        return cls(segment, smtp, smtp.concurrency if concurrency is None else concurrency,
                   smtp.rate if rate is None else rate, **choices)


@dataclass
class SendSummary:
    issue_id: str
    segment: str
    added: int = 0                      # recipients frozen into the journal by this run
    joined_since: int = 0               # a rerun: members not in the journal (added only with include_new)
    attempted: int = 0                  # rows this run worked on
    outcome: dict[str, int] = field(default_factory=dict)   # this run: state -> rows
    totals: dict[str, int] = field(default_factory=dict)    # the whole journal afterwards
    uncertain: list[str] = field(default_factory=list)      # addresses, after the run
    interrupted: bool = False
    aborted: str = ""
    undone: int = 0                     # bounces this run undid (the breaker blamed the relay)
    paused: float = 0.0                 # seconds the whole send waited for the relay
    elapsed: float = 0.0
    dry_run: bool = False
    message_bytes: int = 0

    @property
    def rate(self) -> float:
        return self.attempted / self.elapsed if self.elapsed else 0.0

    @property
    def still_to_go(self) -> int:
        """Rows of the journal that the next run sends (queued, deferred)."""
        return sum(self.totals.get(state, 0) for state in STILL_TO_GO)

    @property
    def complete(self) -> bool:
        return not (self.interrupted or self.aborted or self.uncertain or self.still_to_go)


async def _open_connections(target: SmtpTarget, options: SendOptions) -> list[SmtpConnection]:
    """All connections, or one clear error before anything is sent (or claimed)."""
    results = await asyncio.gather(*(open_connection(target) for _ in range(options.concurrency)),
                                   return_exceptions=True)
    clients = [r for r in results if isinstance(r, SmtpConnection)]
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        for connection in clients:
            connection.close()
        raise GbaletterError(explain(failures[0], target))
    return clients


def _states(options: SendOptions) -> tuple[State, ...]:
    """The states a run sends, in the order it reads them. `deferred` comes first: rows that a
    4xx defers during this run are then behind the reader, and wait for the next run. `failed`
    rows (an address the server could not take) only with --retry-failed."""
    if options.retry_failed:
        return (State.FAILED, State.DEFERRED, State.QUEUED)
    return (State.DEFERRED, State.QUEUED)


async def _send(ws: Workspace, db: Database, issue_id: str, options: SendOptions,
                progress_start: Callable[[int], Progress] | None, stop: asyncio.Event) -> SendSummary:
    summary = SendSummary(issue_id, options.segment, dry_run=options.dry_run)
    started = time.perf_counter()
    signer = signer_for(ws)
    prepared = prepare_issue(ws, issue_id, signer, check=not (options.dry_run or options.ignore_check))
    if options.dry_run:
        return _dry_run(db, prepared, options, summary)
    target = smtp_target(ws.config.smtp)
    refuse_placeholders(ws, target.host)
    total = _freeze(ws, db, issue_id, options, summary)
    if total:
        clients = await _open_connections(target, options)
        run = SendLoop(ws, db, prepared, target, options, signer, summary,
                       leases.register_worker(db, issue_id, process_name()))
        if progress_start:
            run.progress = progress_start(total)
        await run_loop(run, clients, stop, _states(options))
    with db.reader() as session:
        summary.totals = journal.counts(session, issue_id)
        summary.uncertain = [p.email for p in journal.problems(session, issue_id, UNCERTAIN_STATES, limit=1000)]
    summary.elapsed = time.perf_counter() - started
    return summary


def _freeze(ws: Workspace, db: Database, issue_id: str, options: SendOptions, summary: SendSummary) -> int:
    """The sent copy kept, the segment's members into the journal (once, or the newcomers with
    include_new), the rows to resend back in the queue; returns how many rows this run is to send."""
    leases.end_workers(db, issue_id, gone_from_this_host)
    with db.reader() as session:
        ids = _members_or_refuse(session, issue_id, options.segment)
        if journal.sent_to_segment(session, issue_id, options.segment):
            summary.joined_since = count_members(session, journal.not_in_journal(issue_id, ids))
    summary.added = journal.freeze_in_steps(db, issue_id, options.segment, ids, options.include_new)
    keep_sent_copy(ws, issue_id)  # what the archive shows from now on, whatever is rebuilt
    with db.session() as session:
        tracked.remember_links(session, ws, issue_id)
        if options.resend_uncertain:
            journal.requeue(session, issue_id, UNCERTAIN_STATES, options.smtp.lease)
    with db.reader() as session:
        return journal.count_pending(session, issue_id, _states(options))


def _members_or_refuse(session: Session, issue_id: str, segment: str) -> Select:
    """The segment's members; a segment that selects nobody is refused (a typo in a tag sends to
    nobody and opens a journal otherwise), unless the issue was sent to it before (a resume)."""
    ids = segment_filter(session, segment)
    if session.scalar(ids.limit(1)) is None and not journal.sent_to_segment(session, issue_id, segment):
        raise GbaletterError(f"{why_nobody(session, segment)}; nothing was sent")
    return ids


def _recipients_now(session: Session, issue_id: str, ids: Select, options: SendOptions) -> Select:
    """Who a run would mail now: the journal's rows it would send, and the members it would add
    (all of them on a first send; on a rerun only with include_new)."""
    states = _states(options) + (UNCERTAIN_STATES if options.resend_uncertain else ())
    mailed: ColumnElement[bool] = Subscriber.id.in_(journal.pending_ids(issue_id, states))
    if options.include_new or not journal.sent_to_segment(session, issue_id, options.segment):
        mailed = or_(mailed, Subscriber.id.in_(journal.not_in_journal(issue_id, ids)))
    return select(Subscriber.id).where(mailed)


def _dry_run(db: Database, prepared: PreparedIssue, options: SendOptions, summary: SendSummary) -> SendSummary:
    """Render the message of everyone a run would mail now (catching bad addresses and names),
    send nothing, write nothing."""
    started = time.perf_counter()
    with db.reader() as session:
        ids = _members_or_refuse(session, prepared.issue_id, options.segment)
        now = _recipients_now(session, prepared.issue_id, ids, options)
        summary.totals = {"members": count_members(session, ids), "now": count_members(session, now)}
        rows = session.execute(
            Subscriber.__table__.select().with_only_columns(Subscriber.id, Subscriber.email, Subscriber.name,
                                                            Subscriber.language)
            .where(Subscriber.id.in_(now)).execution_options(yield_per=1000))
        for sub_id, email, name, language in rows:
            recipient = Recipient(key=sub_id, subscriber_id=sub_id, email=email, name=name, language=language)
            message = message_for(prepared, recipient)
            summary.attempted += 1
            summary.message_bytes = max(summary.message_bytes, len(message))
    summary.elapsed = time.perf_counter() - started
    return summary


def run_async(coroutine):
    """Run on uvloop when it is installed (much less overhead per SMTP round trip), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def send_issue(ws: Workspace, db: Database, issue_id: str, options: SendOptions,
               progress_start: Callable[[int], Progress] | None = None) -> SendSummary:
    """Run a send; the first Ctrl-C (SIGINT) or SIGTERM stops it gracefully, messages in flight
    finishing (`summary.interrupted`); a second one ends the process at once (interrupts.py)."""

    async def main(stopping: StopRequest) -> SendSummary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        stopping.listen(lambda: loop.call_soon_threadsafe(stop.set))
        return await _send(ws, db, issue_id, options, progress_start, stop)

    with StopRequest() as stopping:
        return run_async(main(stopping))


def send_test(ws: Workspace, db: Database, issue_id: str, address: str) -> str:
    """One test copy to `address` ('[TEST]' subject, no journal); personalised as that subscriber
    if the address is on the list. Returns the server's reply."""
    from ..subscribers.addresses import normalize_address
    from ..subscribers.service import find_subscriber

    address = normalize_address(address)
    prepared = prepare_issue(ws, issue_id, signer_for(ws), test=True)
    with db.reader() as session:
        subscriber = find_subscriber(session, address)
        sub_id, name, language = ((subscriber.id, subscriber.name, subscriber.language) if subscriber
                                  else (0, "", ""))
    recipient = Recipient(key=0, subscriber_id=sub_id, email=address, name=name, language=language)
    message = message_for(prepared, recipient)
    target = smtp_target(ws.config.smtp)
    refuse_placeholders(ws, target.host)
    return asyncio.run(send_one(target, plain_envelope_sender(ws), address, message))

