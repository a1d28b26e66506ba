"""The send loop of one run, per row: claim -> pace -> send -> decide -> record.

Each connection takes its rows from the claimed batches (claims.py) and, for each, waits for its
turn (pacing.py: --rate and relay pauses), marks it `sending` through the group-commit writer
(writer.py; the commands may go out meanwhile, or with the connection's last message: ahead.py;
the message waits for the commit), hands SMTP the parts `prepare.message_parts` chose, asks the
outcome table (outcome.decide) what the reply means, and records what the table says the row
becomes. The circuit breaker (outcome.Breaker) watches the outcomes of all connections together,
so a relay's mistake stops or pauses the send instead of marking the list. What comes before the
loop (the prepared issue, the frozen recipients, the connections) is sender.py's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiosmtplib

from ..config import Workspace
from ..db import Database
from ..errors import GbaletterError
from ..links import MailAddresses, plain_envelope_sender
from ..tokens import Signer
from . import journal
from .ahead import NextRow
from .claims import Claims
from .message import PreparedIssue, Recipient
from .models import State
from .outcome import DELIVERED, Breaker, Reply, Stage, TransactionFailed, Trip, Verdict, decide
from .pacing import Pacing
from .prepare import message_parts
from .smtp import CONNECTION_EXCEPTIONS, SmtpConnection, SmtpTarget, connect_failure, explain, open_connection
from .writer import Claim, JournalWriter

if TYPE_CHECKING:
    from .sender import SendOptions, SendSummary


class SendAborted(GbaletterError):
    """The send cannot go on (the server refuses us, or the breaker tripped); the journal says
    how far it got and every row not done is still queued."""


Progress = Callable[[str], None]


class SendLoop:
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


async def run_loop(run: SendLoop, clients: list[SmtpConnection], stop: asyncio.Event,
                   states: tuple[State, ...]) -> None:
    """The claims, the connections, the journal writer and the keep-alive of one run, until the
    rows in `states` run out or the send stops; whatever happens, the journal is written and the rows held
    but not begun are given back."""
    writer_task = asyncio.create_task(run.writer.run())
    watcher = asyncio.create_task(_forward(stop, run.stop))
    keeper = asyncio.create_task(run.keep_alive())
    try:
        await asyncio.gather(run.claims.produce(states), *(run.work(c) for c in clients))
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
