"""The send loop: a built issue to every member of a segment, once, resumably.

Per issue (once): check the build, prepare the message (`message.PreparedIssue`), freeze the
recipients into the journal, open the connections (failing fast on a wrong password or an
unreachable server, before anything is marked). Per recipient (the minimum): sign a token, fill
the prepared message, claim the journal row, hand the bytes to SMTP, record the reply.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr

import aiosmtplib

from ..config import Workspace
from ..db import Database
from ..errors import GbaletterError
from ..issue.check import check_issue
from ..issue.render import build_state
from ..subscribers.segments import count_members, segment_filter
from ..subscribers.models import Subscriber
from ..links import MailAddresses, signer_for, unsubscribe_url, view_url
from ..tokens import Signer
from . import journal
from .message import IssueHeaders, PreparedIssue, Recipient
from .models import State
from .ratelimit import TokenBucket
from .smtp import (CONNECTION_EXCEPTIONS, SmtpConnection, SmtpTarget, explain, open_connection,
                   send_one, smtp_target)

TEST_PREFIX = "[TEST] "


class SendAborted(GbaletterError):
    """The server became unusable in the middle of a send; the journal says how far it got."""


@dataclass
class SendOptions:
    segment: str
    concurrency: int = 8
    rate: float = 0.0
    dry_run: bool = False
    resend_uncertain: bool = False
    retry_failed: bool = False
    max_attempts: int = 3
    retry_delay: float = 1.0  # first backoff; doubles with every attempt
    ignore_check: bool = False  # send although `issue check` finds errors


@dataclass
class SendSummary:
    issue_id: str
    segment: str
    added: int = 0                      # recipients frozen into the journal by this run
    attempted: int = 0                  # rows this run worked on
    outcome: dict[str, int] = field(default_factory=dict)   # this run: state -> rows
    totals: dict[str, int] = field(default_factory=dict)    # the whole journal afterwards
    uncertain: list[str] = field(default_factory=list)
    interrupted: bool = False
    aborted: str = ""
    elapsed: float = 0.0
    dry_run: bool = False
    message_bytes: int = 0

    @property
    def rate(self) -> float:
        return self.attempted / self.elapsed if self.elapsed else 0.0

    @property
    def complete(self) -> bool:
        return not (self.interrupted or self.aborted or self.uncertain
                    or self.totals.get(State.QUEUED, 0) or self.totals.get(State.DEFERRED, 0))


Progress = Callable[[str], None]


def _dkim_signer(ws: Workspace):
    """A function adding a DKIM-Signature, or None when [dkim] is not configured."""
    settings = ws.config.dkim
    if not (settings.domain and settings.selector):
        return None
    import dkim  # dkimpy; only needed when signing

    key = os.environ.get("GBALETTER_DKIM_KEY", "").encode()
    if not key and settings.key_file:
        try:
            key = (ws.root / settings.key_file).read_bytes()
        except OSError as exc:
            raise GbaletterError(f"[dkim] key_file {settings.key_file}: {exc.strerror}") from None
    if not key:
        raise GbaletterError("[dkim] is configured but there is no key: set GBALETTER_DKIM_KEY "
                             "or [dkim] key_file")
    headers = [b"from", b"to", b"subject", b"date", b"message-id", b"list-id",
               b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version", b"content-type"]
    selector, domain = settings.selector.encode(), settings.domain.encode()

    def sign(message: bytes) -> bytes:
        return dkim.sign(message, selector, domain, key, include_headers=headers)

    return sign


def prepare_issue(ws: Workspace, issue_id: str, signer: Signer, test: bool = False) -> PreparedIssue:
    """The issue's message, once; refuses an issue that is not built or built from old inputs."""
    info, fresh = build_state(ws, issue_id)
    if info is None:
        raise GbaletterError(f"issue {issue_id} is not built; run: gbaletter issue build {issue_id}")
    if not fresh:
        raise GbaletterError(f"the build of issue {issue_id} is older than its manifest, posts or "
                             f"templates; run: gbaletter issue build {issue_id}")
    folder = ws.issue_dir(issue_id) / "build"
    news = ws.config.newsletter
    sender_domain = parseaddr(news.sender)[1].rpartition("@")[2]
    return PreparedIssue(
        issue_id,
        IssueHeaders(sender=news.sender, subject=(TEST_PREFIX if test else "") + info["subject"],
                     list_name=news.name, list_id=news.list_id or f"{issue_id}.{sender_domain}",
                     reply_to=news.reply_to),
        html_text=(folder / "email.html").read_text(encoding="utf-8"),
        plain_text=(folder / "email.txt").read_text(encoding="utf-8"),
        per_issue={"view_url": view_url(ws, issue_id)},
        name_fallback=news.name_fallback,
        unsubscribe_mailto=MailAddresses(ws, signer).unsubscribe,
        dkim_signer=_dkim_signer(ws),
        message_id_tag=signer.tag("message-id", issue_id),
    )


def envelope_sender(ws: Workspace) -> str:
    return ws.config.smtp.envelope_sender or parseaddr(ws.config.newsletter.sender)[1]


class _Run:
    """One run of the send loop (connections, queue, workers) for one issue."""

    def __init__(self, ws: Workspace, db: Database, prepared: PreparedIssue, target: SmtpTarget,
                 options: SendOptions, signer: Signer, summary: SendSummary):
        self.ws, self.db, self.prepared, self.target = ws, db, prepared, target
        self.options, self.signer, self.summary = options, signer, summary
        self.progress: Progress = lambda state: None
        self.writer = journal.JournalWriter(db, prepared.issue_id)
        self.bucket = TokenBucket(options.rate)
        self.queue: asyncio.Queue[Recipient | None] = asyncio.Queue(maxsize=options.concurrency * 4)
        self.stop = asyncio.Event()
        self.envelope_from = envelope_sender(ws)
        # VERP (feedback branch): each message's own return path names its journal row
        self.return_path = MailAddresses(ws, signer).bounce

    async def open_connections(self) -> list[SmtpConnection]:
        """All connections, or one clear error before anything is sent."""
        results = await asyncio.gather(*(open_connection(self.target)
                                         for _ in range(self.options.concurrency)),
                                       return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            for connection in results:
                if isinstance(connection, SmtpConnection):
                    connection.close()
            raise GbaletterError(explain(failures[0], self.target))
        return list(results)

    async def _reconnect(self) -> SmtpConnection:
        delay = self.options.retry_delay
        for attempt in range(1, self.options.max_attempts + 1):
            try:
                return await open_connection(self.target)
            except aiosmtplib.SMTPAuthenticationError as exc:
                raise SendAborted(explain(exc, self.target)) from None
            except CONNECTION_EXCEPTIONS + (aiosmtplib.SMTPException,) as exc:
                if attempt == self.options.max_attempts:
                    raise SendAborted(explain(exc, self.target)) from None
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def produce(self, states: tuple[State, ...]) -> None:
        try:
            for page in journal.pending(self.db, self.prepared.issue_id, states):
                for recipient in page:
                    if self.stop.is_set():
                        return
                    await self.queue.put(recipient)
        finally:
            for _ in range(self.options.concurrency):
                await self.queue.put(None)

    async def work(self, client: SmtpConnection | None) -> None:
        try:
            while (recipient := await self.queue.get()) is not None:
                if self.stop.is_set():
                    continue  # drain: the row stays queued for the next run
                client = await self.deliver(recipient, client)
        except SendAborted as exc:
            self.summary.aborted = self.summary.aborted or str(exc)
            self.stop.set()
        finally:
            if client is not None:
                client.close()

    def _finish(self, state: State) -> None:
        self.summary.outcome[state.value] = self.summary.outcome.get(state.value, 0) + 1
        self.progress(state.value)

    async def deliver(self, recipient: Recipient, client: SmtpConnection | None) -> SmtpConnection | None:
        """Send one message, retrying temporary failures; returns the connection to use next."""
        self.summary.attempted += 1
        if not recipient.email:
            await self.writer.claim(recipient, 0)  # erased since frozen: the claim skips it
            self._finish(State.SKIPPED)
            return client
        url = unsubscribe_url(self.ws, self.signer, recipient.subscriber_id, self.prepared.issue_id)
        try:
            message = self.prepared.render(recipient, url, smtp=True)
            recipient.email.encode("ascii")
        except UnicodeEncodeError:
            self.writer.record(recipient, State.FAILED, 0, "address needs SMTPUTF8, which is not supported")
            self._finish(State.FAILED)
            return client
        message_id = self.prepared.message_id(recipient)
        delay = self.options.retry_delay
        for attempt in range(1, self.options.max_attempts + 1):
            await self.bucket.acquire()
            if not await self.writer.claim(recipient, attempt):
                self._finish(State.SKIPPED)
                return client
            try:
                if client is None or not client.is_connected:
                    client = await self._reconnect()
                # VERP (feedback branch): the envelope sender of this recipient's journal row
                reply = await client.send(self.return_path(recipient.key).encode("ascii"),
                                          recipient.email, message)
            except SendAborted:
                self.writer.record(recipient, State.QUEUED, attempt - 1, "not sent: send stopped")
                raise
            except aiosmtplib.SMTPSenderRefused as exc:
                if exc.code < 500:  # a temporary refusal: retried like any 4xx
                    code, text = exc.code, exc.message
                else:  # every message would fail the same way: stop, nothing is lost
                    self.writer.record(recipient, State.QUEUED, attempt - 1, f"{exc.code} {exc.message}")
                    raise SendAborted(f"SMTP server {self.target.describe()} refused the sender "
                                      f"{self.envelope_from}: {exc.code} {exc.message}") from None
            except aiosmtplib.SMTPResponseException as exc:
                code, text = exc.code, exc.message
            except CONNECTION_EXCEPTIONS as exc:
                if client is not None:
                    client.close()
                client, code, text = None, 0, f"connection lost: {exc}"
            else:
                self.writer.record(recipient, State.SENT, attempt, reply, message_id)
                self._finish(State.SENT)
                return client
            reply = f"{code} {text}".strip() if code else text
            if 500 <= code < 600:
                self.writer.record(recipient, State.BOUNCED, attempt, reply, message_id)
                self._finish(State.BOUNCED)
                return client
            if attempt < self.options.max_attempts and not self.stop.is_set():
                self.writer.record(recipient, State.QUEUED, attempt, reply)  # not with the server now
                await asyncio.sleep(delay)
                delay *= 2
                continue
            self.writer.record(recipient, State.DEFERRED, attempt, reply)
            self._finish(State.DEFERRED)
            return client
        return client


def _states(options: SendOptions) -> tuple[State, ...]:
    """The states a run sends, in the order it reads them. `deferred` comes first: rows that a
    4xx defers during this run are then behind the reader, and wait for the next run."""
    if options.retry_failed:
        return (State.DEFERRED, State.FAILED)
    return (State.DEFERRED, State.QUEUED)


async def _send(ws: Workspace, db: Database, issue_id: str, options: SendOptions,
                progress_start: Callable[[int], Progress] | None, stop: asyncio.Event) -> SendSummary:
    summary = SendSummary(issue_id, options.segment, dry_run=options.dry_run)
    started = time.perf_counter()
    signer = signer_for(ws)
    prepared = prepare_issue(ws, issue_id, signer)
    if not (options.dry_run or options.ignore_check):
        _refuse_on_check_errors(ws, issue_id)
    if options.dry_run:
        return _dry_run(ws, db, prepared, signer, options, summary)
    target = smtp_target(ws.config.smtp)
    with db.session() as session:
        ids = segment_filter(session, options.segment)
        summary.added = journal.freeze(session, issue_id, options.segment, ids)
        if options.resend_uncertain:
            journal.requeue(session, issue_id, (State.SENDING,))
    with db.reader() as session:
        summary.uncertain = [p.email for p in journal.problems(session, issue_id, (State.SENDING,), limit=1000)]
        total = journal.count_pending(session, issue_id, _states(options))
    run = _Run(ws, db, prepared, target, options, signer, summary)
    if total:
        clients = await run.open_connections()
        if progress_start:
            run.progress = progress_start(total)
        writer_task = asyncio.create_task(run.writer.run())
        watcher = asyncio.create_task(_forward(stop, run.stop))
        try:
            await asyncio.gather(run.produce(_states(options)), *(run.work(c) for c in clients))
        finally:
            run.writer.close()
            await writer_task
            run.writer.shutdown()
            watcher.cancel()
        summary.interrupted = stop.is_set()
    with db.reader() as session:
        summary.totals = journal.counts(session, issue_id)
    summary.elapsed = time.perf_counter() - started
    return summary


def _refuse_on_check_errors(ws: Workspace, issue_id: str) -> None:
    """The static part of `issue check` gates a real send: errors reach every inbox otherwise."""
    errors = check_issue(ws, issue_id, browser=False).errors
    if errors:
        raise GbaletterError("\n".join(
            [f"issue {issue_id} has {len(errors)} check error(s); fix them (gbaletter issue check "
             f"{issue_id}) or pass --ignore-check:"] + [f"  {e.where}: {e.message}" for e in errors]))


async def _forward(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


def _dry_run(ws: Workspace, db: Database, prepared: PreparedIssue, signer: Signer,
             options: SendOptions, summary: SendSummary) -> SendSummary:
    """Render every member's message (catching bad addresses and names), send nothing, write nothing."""
    started = time.perf_counter()
    with db.reader() as session:
        ids = segment_filter(session, options.segment)
        summary.totals = {"members": count_members(session, ids)}
        rows = session.execute(
            Subscriber.__table__.select().with_only_columns(Subscriber.id, Subscriber.email, Subscriber.name)
            .where(Subscriber.id.in_(ids)).execution_options(yield_per=1000))
        for sub_id, email, name in rows:
            recipient = Recipient(key=sub_id, subscriber_id=sub_id, email=email, name=name)
            message = prepared.render(recipient, unsubscribe_url(ws, signer, sub_id, prepared.issue_id))
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
    """Run a send; Ctrl-C (SIGINT) or SIGTERM stops it gracefully: messages in flight finish."""

    async def main() -> SendSummary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread (tests): no signal handling
        try:
            return await _send(ws, db, issue_id, options, progress_start, stop)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.remove_signal_handler(signum)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass

    return run_async(main())


def send_test(ws: Workspace, db: Database, issue_id: str, address: str) -> str:
    """One test copy to `address` ('[TEST]' subject, no journal); personalised as that subscriber
    if the address is on the list. Returns the server's reply."""
    from ..subscribers.addresses import normalize_address
    from ..subscribers.service import find_subscriber

    address = normalize_address(address)
    signer = signer_for(ws)
    prepared = prepare_issue(ws, issue_id, signer, test=True)
    with db.reader() as session:
        subscriber = find_subscriber(session, address)
        sub_id, name = (subscriber.id, subscriber.name) if subscriber else (0, "")
    recipient = Recipient(key=0, subscriber_id=sub_id, email=address, name=name)
    message = prepared.render(recipient, unsubscribe_url(ws, signer, sub_id, issue_id))
    return asyncio.run(send_one(smtp_target(ws.config.smtp), envelope_sender(ws), address, message))

