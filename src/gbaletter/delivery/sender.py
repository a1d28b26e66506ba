"""The send loop: a built issue to every member of a segment, once, resumably.

Once per issue (prepare.py): check the build, lay the message out, freeze the recipients into the
journal, open the connections (failing fast on a wrong password or an unreachable server, before
anything is marked). Per recipient, the loop is claim -> pace -> send -> decide -> record: the
row comes claimed in a batch (claims.py), waits for its turn (pacing.py: --rate and relay
pauses), is marked `sending` (the commands may go out meanwhile, or with the connection's last
message: ahead.py; the message waits for the commit), and is handed to SMTP as the parts
`message_parts` chose; the outcome table
(outcome.decide) says what the reply means, and the journal records what the table says the row
becomes. The circuit breaker (outcome.Breaker) watches the outcomes of all connections together,
so a relay's mistake stops or pauses the send instead of marking the list.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiosmtplib
from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from ..config import SmtpSettings, Workspace
from ..db import Database
from ..errors import GbaletterError
from ..interrupts import StopRequest
from ..issue.published import keep_sent_copy
from ..links import MailAddresses, plain_envelope_sender, signer_for
from ..subscribers.models import Subscriber
from ..subscribers.segments import count_members, segment_filter, why_nobody
from ..tokens import Signer
from . import journal, leases, tracked
from .ahead import NextRow
from .claims import Claims
from .guards import refuse_placeholders
from .message import PreparedIssue, Recipient
from .models import STILL_TO_GO, State
from .outcome import DELIVERED, Breaker, Reply, Stage, TransactionFailed, Trip, Verdict, decide
from .pacing import Pacing
from .prepare import prepare_issue
from .processes import gone_from_this_host, process_name
from .smtp import (CONNECTION_EXCEPTIONS, SmtpConnection, SmtpTarget, connect_failure, explain,
                   open_connection, send_one, smtp_target)
from .writer import Claim, JournalWriter

# the rows a crash or a lost connection left with the server: sent again only on request
UNCERTAIN_STATES = (State.SENDING, State.UNCERTAIN)


class SendAborted(GbaletterError):
    """The send cannot go on (the server refuses us, or the breaker tripped); the journal says
    how far it got and every row not done is still queued."""


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


Progress = Callable[[str], None]


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


def message_parts(prepared: PreparedIssue, recipient: Recipient, smtp: bool = False) -> list[bytes]:
    """A recipient's message, as the parts it is joined from: the one place it is chosen and
    filled in (a send, a dry run and a test copy all come here): the edition in the reader's
    language, prepared once per issue."""
    edition = prepared.edition(recipient.language)
    return edition.render_parts(recipient, prepared.unsubscribe_url(recipient.subscriber_id), smtp=smtp)


def message_for(prepared: PreparedIssue, recipient: Recipient, smtp: bool = False) -> bytes:
    """`message_parts` joined: the message as bytes."""
    return b"".join(message_parts(prepared, recipient, smtp))


class _Run:
    """One run of the send loop for one issue: this worker's claims, its pacing, its connections'
    deliveries, and the circuit breaker they share."""

    def __init__(self, ws: Workspace, db: Database, prepared: PreparedIssue, target: SmtpTarget,
                 options: SendOptions, signer: Signer, summary: SendSummary, worker: int):
        self.ws, self.db, self.prepared, self.target = ws, db, prepared, target
        self.options, self.summary = options, summary
        self.progress: Progress = lambda state: None
        self.stop = asyncio.Event()
        smtp = options.smtp
        self.claims = Claims(db, prepared.issue_id, worker, options.concurrency, smtp.lease, self.stop,
                             self._sleep)
        self.pacing = Pacing(options.rate, smtp.relay_backoff, smtp.relay_backoff_max, self._sleep)
        self.writer = JournalWriter(db, prepared.issue_id, worker)
        self.breaker = Breaker(smtp.breaker)
        self.envelope_from = plain_envelope_sender(ws)
        # VERP: each message's return path names its journal row (links.MailAddresses)
        self.return_path = MailAddresses(ws, signer).bounce

    async def _sleep(self, seconds: float) -> None:
        """Wait, but not past a stop (Ctrl-C, an abort): the caller checks `stop` after."""
        if seconds > 0 and not self.stop.is_set():
            try:
                await asyncio.wait_for(self.stop.wait(), seconds)
            except TimeoutError:
                pass

    async def keep_alive(self) -> None:
        """Renew this worker's claims every third of a lease, and its share of --rate."""
        while not self.stop.is_set():
            self.pacing.share(self.claims.renew())
            await self._sleep(self.options.smtp.lease / 3)

    async def work(self, client: SmtpConnection | None) -> None:
        """One connection: deliver what the claims queue until they end or the send stops; the
        next row taken ahead where the connection can send its commands early (ahead.py)."""
        claims = self.claims
        ahead, following = NextRow(claims, self.pacing, self.stop, self.return_path), None
        try:
            while True:
                recipient, envelope = ahead.take()
                if recipient is None and (recipient := claims.take() if claims.queue else await claims.next()) is None:
                    break
                if self.stop.is_set():
                    continue  # drain: the row stays queued for the next run
                if client is not following and client is not None:  # (a new connection)
                    client.follow_with(ahead)
                    following = client
                client = await self.deliver(recipient, client, envelope)
        except SendAborted as exc:
            self._abort(str(exc))
        finally:
            if client is not None:
                client.close()

    def _abort(self, reason: str) -> None:
        self.summary.aborted = self.summary.aborted or reason
        self.stop.set()

    def _record(self, recipient: Recipient, state: State, attempts: int, reply: str,
                message_id: str = "") -> None:
        self.writer.record(recipient, state, attempts, reply, message_id)
        self._count(state)

    def _count(self, state: State) -> None:
        """This run's outcome of one row, for the summary and the progress bar."""
        value = state._value_  # (an enum's .value is two Python-level calls; once a message here)
        self.summary.outcome[value] = self.summary.outcome.get(value, 0) + 1
        self.progress(value)

    async def deliver(self, recipient: Recipient, client: SmtpConnection | None,
                      envelope: bytes | None = None) -> SmtpConnection | None:
        """One claimed row: pace -> send -> decide -> record, again while the outcome table says
        retry now; returns the connection to use next. The row is marked `sending` (the journal's
        claim) only once its turn came, and its message is handed to the server only once that
        claim has committed (the SMTP commands before it go out meanwhile: they deliver nothing).
        `envelope`: its return path (VERP: it names the row) when the row was taken ahead, its
        commands already out with the last message (ahead.py)."""
        self.summary.attempted += 1
        if not recipient.email:
            await self.writer.claim(recipient, 0)  # erased since frozen: the claim skips it
            self._count(State.SKIPPED)
            return client
        message = message_parts(self.prepared, recipient, smtp=True)
        commands_out, envelope = envelope is not None, envelope or self.return_path(recipient.key).encode("ascii")
        attempt, delay = 0, self.options.retry_delay
        while not self.stop.is_set():
            if not self.pacing.free():
                if commands_out and client is not None:
                    client.close()  # a relay pause began: the server must not wait in DATA through it
                await self.pacing.wait_turn()
                if self.stop.is_set():
                    break
            attempt, commands_out = attempt + 1, False
            self.claims.begin(recipient)
            claim = self.writer.claim(recipient, attempt)
            if not recipient.active and not await claim:  # inactive when claimed: no transaction
                self._count(State.SKIPPED)
                return client
            client, outcome = await self._send(client, recipient, envelope, message, attempt, claim)
            # (settled by now, but for a transaction that failed early; `ok` True: no need to await)
            if claim.ok is not True and not await claim:
                self._count(State.SKIPPED)  # unsubscribed or bounced since: the claim skipped it
                return client
            if outcome is None:
                return client  # recorded: this server cannot take the address
            if isinstance(outcome, str):  # the final 250
                self._delivered(recipient, attempt, outcome)
                return client
            counted = self._settle(recipient, attempt, *outcome)
            if counted is None:
                return client
            attempt = counted
            await self._sleep(delay)
            delay *= 2
        return client  # stopped: the row stays as it was (queued or deferred) for the next run

    async def _send(self, client: SmtpConnection | None, recipient: Recipient, envelope: bytes,
                    message: list[bytes], attempt: int,
                    claim: Claim) -> tuple[SmtpConnection | None, str | tuple[Stage, Reply] | None]:
        """Hand the message over once `claim` has committed: the connection to use next and the
        final 250's text, or the (stage, reply) that refused it, or None when nothing is left to
        decide (the claim failed, or the address cannot go through this server: recorded as
        failed). Anything recorded here waits for the claim first, so that it never overwrites a
        `skipped`."""
        try:
            if client is None or not client.is_connected:
                if not await claim:
                    return client, None
                client = await self._reconnect()
            if not (recipient.email.isascii() or client.smtputf8):
                if await claim:
                    self._record(recipient, State.FAILED, attempt, f"the address needs SMTPUTF8, which "
                                 f"{self.target.describe()} does not offer")
                return client, None
            return client, await client.send(envelope, recipient.email, message, claim)
        except SendAborted:
            self.writer.record(recipient, State.QUEUED, attempt - 1, "not sent: the send stopped")
            raise
        except TransactionFailed as failed:
            return client, (failed.stage, failed.reply)

    def _delivered(self, recipient: Recipient, attempt: int, text: str) -> None:
        """`_settle` of the final 250 (nearly every message) without a Reply to decide: the
        outcome table says delivered (`sent`, no retry, no stop), which ends the breaker's streaks."""
        self.breaker.delivered()
        self._record(recipient, DELIVERED.effect.state, attempt, f"250 {text}".strip(),
                     self.prepared.message_id(recipient))

    def _settle(self, recipient: Recipient, attempt: int, stage: Stage, reply: Reply) -> int | None:
        """decide -> record: what the outcome table says the reply means, kept in the journal.
        Returns the attempts counted so far when the row is to be tried again now, else None."""
        decision = decide(stage, reply)
        effect = decision.effect
        trip = self.breaker.observe(recipient.key, decision, reply)
        if effect.stop:
            self.writer.record(recipient, State.QUEUED, attempt - 1, str(reply))
            what = f"the sender {self.envelope_from}" if stage is Stage.MAIL else f"the {stage.value}"
            raise SendAborted(f"SMTP server {self.target.describe()} refused {what}: {reply}")
        if effect.retry:
            if trip is Trip.BACK_OFF and (why := self.pacing.pause_relay(reply)):
                self._abort(why)
            if self.pacing.relay_paused:
                attempt -= 1  # the relay is failing, not this row: the attempt does not count
            if attempt < self.options.smtp.max_attempts and not self.stop.is_set():
                self.writer.record(recipient, State.QUEUED, attempt, str(reply))  # not with the server now
                return attempt
            self._record(recipient, State.QUEUED if self.stop.is_set() else effect.state, attempt, str(reply))
            return None
        self._record(recipient, effect.state, attempt, str(reply),
                     self.prepared.message_id(recipient) if effect.state.went_out else "")
        if trip is Trip.STOP:
            self._abort(f"{len(self.breaker.streak)} recipients in a row were refused with the same "
                        f"reply ({reply}): that is the relay or our setup, not the addresses, so "
                        "nobody is marked for it; fix the cause and run the same command again")
        return None

    async def _reconnect(self) -> SmtpConnection:
        """A new connection; the outcome table says whether a failure is worth another try."""
        delay = self.options.retry_delay
        for attempt in range(1, self.options.smtp.max_attempts + 1):
            try:
                return await open_connection(self.target)
            except (*CONNECTION_EXCEPTIONS, aiosmtplib.SMTPException) as exc:
                stage, reply = connect_failure(exc)
                if decide(stage, reply).verdict is Verdict.FATAL or attempt == self.options.smtp.max_attempts:
                    raise SendAborted(explain(exc, self.target)) from None
                await self._sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def undo_breaker_bounces(self) -> None:
        """The breaker blamed a streak on the relay: nobody it bounced stays bounced."""
        if self.summary.aborted and self.breaker.tripped:
            with self.db.session() as session:
                self.summary.undone = journal.undo_bounces(
                    session, self.prepared.issue_id, self.breaker.streak,
                    f"bounce undone: the same reply refused {len(self.breaker.streak)} recipients in a row")


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
        run = _Run(ws, db, prepared, target, options, signer, summary,
                   leases.register_worker(db, issue_id, process_name()))
        if progress_start:
            run.progress = progress_start(total)
        await _run(run, clients, stop)
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


async def _run(run: _Run, clients: list[SmtpConnection], stop: asyncio.Event) -> None:
    """The claims, the connections, the journal writer and the keep-alive of one run, until the
    rows run out or the send stops; whatever happens, the journal is written and the rows held
    but not begun are given back."""
    writer_task = asyncio.create_task(run.writer.run())
    watcher = asyncio.create_task(_forward(stop, run.stop))
    keeper = asyncio.create_task(run.keep_alive())
    try:
        await asyncio.gather(run.claims.produce(_states(run.options)), *(run.work(c) for c in clients))
    finally:
        keeper.cancel()
        run.writer.close()
        await writer_task
        run.writer.shutdown()
        watcher.cancel()
        run.claims.release()
    run.summary.paused = run.pacing.paused
    run.undo_breaker_bounces()
    run.summary.interrupted = stop.is_set()


async def _forward(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


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

