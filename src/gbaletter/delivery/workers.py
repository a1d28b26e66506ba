"""`issue send --workers N`: N sending processes on this host, each a worker of the same send.

Each worker is what `gbaletter issue send` is on its own (leases.claim_batch hands out the rows,
the leases take back a dead worker's), so N here and the same command on N hosts behave alike.
This process only forks them (the first alone until it has frozen the recipients, so that the
journal is frozen once), shows their progress (each tells it, over its pipe, what its
messages came to: counting the journal's rows four times a second cost the database server more
than the send's own statements, docs/benchmarks.md), passes SIGTERM on (Ctrl-C reaches
them from the terminal; either stops them as a single send stops: messages in flight finish, and
a second one ends them at once, interrupts.py) and adds their summaries up.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Workspace
from ..db import Database
from ..errors import GbaletterError
from ..interrupts import STOP_SIGNALS, StopRequest
from . import journal
from .loop import Progress
from .sender import UNCERTAIN_STATES, SendOptions, SendSummary, send_issue

if TYPE_CHECKING:
    from multiprocessing.connection import Connection as Pipe
    from multiprocessing.process import BaseProcess

PROGRESS_SECONDS = 0.25  # how often a worker tells the parent how far it got
# Room a tally needs in its pipe: it takes ~100 bytes pickled, but a pipe keeps its bytes in pages
# (16 of 4 KiB) and starts a new one when a write does not fit the last, so up to ~100 bytes of
# each page can go unused: two pages' worth leaves no write waiting.
TALLY_ROOM = 8192


def send_with_workers(ws: Workspace, db: Database, issue_id: str, options: SendOptions, workers: int,
                      progress_start: Callable[[int], Progress] | None = None) -> SendSummary:
    """The send, by `workers` processes; one worker is `send_issue` itself."""
    if workers <= 1 or options.dry_run:
        return send_issue(ws, db, issue_id, options, progress_start)
    import multiprocessing  # only here: a send of one process does without it

    context = multiprocessing.get_context("fork")
    db.dispose()  # no pooled connection may be shared across the fork
    pipes: list[Pipe] = []
    children: list[BaseProcess] = []
    told: set[BaseProcess] = set()  # workers pass_on has sent SIGTERM (one is a stop; two end it)

    def fork() -> None:
        """One more worker, unless a stop was asked for; one forked as the stop came is told."""
        # The child starts with this process's signal handlers, which are not its own: it starts
        # with the stop signals held back (pending, not lost), and lets them through once its
        # handlers are its own (`_work`). Holding them back runs a handler already due: a stop
        # handled then is seen before the fork.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            if stopping.requested:
                return
            receiver, sender = context.Pipe(duplex=False)
            child = context.Process(target=_work, args=(ws, db, issue_id, options, sender), daemon=False,
                                    name="gbaletter-send-worker")
            children.append(child)
            child.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a stop held back meanwhile: handled here
        sender.close()
        pipes.append(receiver)
        if stopping.requested and child not in told:  # neither Ctrl-C nor pass_on reached it
            child.terminate()

    def pass_on(signum: int) -> None:
        for child in children:  # (Ctrl-C reaches them by itself, from the terminal; SIGTERM does not)
            if child.is_alive() and signum == signal.SIGTERM:
                child.terminate()
                told.add(child)

    def the_others() -> None:
        for _ in range(workers - 1):
            fork()

    started = time.perf_counter()
    with StopRequest(pass_on=pass_on) as stopping:
        fork()  # the first alone, until it has frozen the journal (see _wait)
        results = _wait(children, pipes, progress_start, the_others)
    summary = _added_up(issue_id, options, [r for r in results if isinstance(r, SendSummary)])
    errors = [r for r in results if isinstance(r, GbaletterError)]
    if errors and not summary.attempted:
        raise errors[0]
    summary.aborted = summary.aborted or (str(errors[0]) if errors else "")
    lost = len(children) - len(results)
    if lost and not stopping.requested:
        summary.aborted = summary.aborted or f"{lost} of {len(children)} workers ended without a report"
    summary.interrupted = summary.interrupted or stopping.requested
    with db.reader() as session:
        summary.totals = journal.counts(session, issue_id)
        summary.uncertain = [p.email for p in journal.problems(session, issue_id, UNCERTAIN_STATES,
                                                              limit=1000)]
    summary.elapsed = time.perf_counter() - started
    return summary


def _work(ws: Workspace, db: Database, issue_id: str, options: SendOptions, pipe: Pipe) -> None:
    """One worker (a forked process): its progress as it goes, then its summary, or its one-line
    error, back to the parent."""
    result: SendSummary | GbaletterError
    for signum in STOP_SIGNALS:  # until send_issue's own handlers, a stop ends the worker: nothing
        signal.signal(signum, signal.SIG_DFL)  # has begun (the parent's handlers came with the fork)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # what came meanwhile arrives now
    reporter = _Reporter(pipe)
    try:
        result = send_issue(ws, db, issue_id, options, reporter.start)
    except GbaletterError as exc:
        result = exc
    if reporter.parent_alive():  # else no one reads the pipe: a write could wait for ever
        reporter.flush(wait=True)  # the last counts, as the summary after them would wait anyway
        pipe.send(result)
    pipe.close()


@dataclass
class _Tally:
    """What a worker's messages came to since its last tally, by state; `total`: the rows its
    run set out to send (the journal's, when it started; the bar's length)."""

    total: int
    counts: dict[str, int]


class _Reporter:
    """A worker's progress for the parent: a `_Tally` at most every PROGRESS_SECONDS, not one a message.

    A tally is sent only while the pipe has room for it: a parent that is gone (killed alone) or
    not reading (its terminal paused) must not stop the worker's send in a blocking write; the
    counts then wait in the tally for the next one. The worker's final word goes only to a
    parent that is alive (`parent_alive`).
    """

    def __init__(self, pipe: Pipe):
        self.pipe, self.tally, self.sent_at = pipe, _Tally(0, {}), 0.0
        self.parent = os.getppid()
        getsize = getattr(fcntl, "F_GETPIPE_SZ", None)  # Linux's; elsewhere the smallest usual size
        self.capacity = fcntl.fcntl(pipe.fileno(), getsize) if getsize is not None else 16384

    def start(self, total: int) -> Progress:
        self.tally.total, self.sent_at = total, time.monotonic()
        self.pipe.send(self.tally)  # the bar shows from the start, before any message is done
        return self.advance

    def advance(self, state: str) -> None:
        counts = self.tally.counts
        counts[state] = counts.get(state, 0) + 1
        if time.monotonic() - self.sent_at >= PROGRESS_SECONDS:
            self.flush()

    def flush(self, wait: bool = False) -> None:
        if self.tally.counts and (wait or self._room()):
            self.pipe.send(self.tally)
            self.tally, self.sent_at = _Tally(self.tally.total, {}), time.monotonic()

    def parent_alive(self) -> bool:
        return os.getppid() == self.parent  # (a child whose parent died is someone else's)

    def _room(self) -> bool:
        """Whether a tally fits in the pipe now, with TALLY_ROOM to spare."""
        unread = struct.unpack("i", fcntl.ioctl(self.pipe.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        return unread + TALLY_ROOM <= self.capacity and self.parent_alive()


def _wait(children: Sequence[BaseProcess], pipes: list[Pipe], progress_start: Callable[[int], Progress] | None,
          the_others: Callable[[], None]) -> list[SendSummary | GbaletterError]:
    """The workers' reports as they end; meanwhile their tallies drive the progress bar.

    `the_others` (forking the other workers) is called at the first worker's first word if that is
    a tally (it has frozen the recipients into the journal, and sends) or its death; started
    together, every worker froze the whole list at the same time, each reading and locking every
    member's row and trying to insert every row the others did. A first word that is its summary
    or its error means there was nothing to send, or that the others would fail the same way (a
    bad build, a server that refuses): none is forked.
    """
    from multiprocessing.connection import wait

    results: list[SendSummary | GbaletterError] = []
    progress: Progress | None = None
    others_called = False
    while pipes:
        ready = wait(pipes)
        for pipe in [pipe for pipe in pipes if pipe in ready]:
            try:
                message = pipe.recv()
            except EOFError:  # the worker died without a word (killed)
                pipes.remove(pipe)
                continue
            if not isinstance(message, _Tally):
                results.append(message)
                pipes.remove(pipe)
                continue
            if progress is None and progress_start and message.total:
                progress = progress_start(message.total)
            if progress is not None:
                for state, number in message.counts.items():
                    for _ in range(number):
                        progress(state)
        if not others_called:  # the first worker's first word
            others_called = True
            if not results:
                the_others()
    for child in children:
        child.join()
    return results


def _added_up(issue_id: str, options: SendOptions, summaries: list[SendSummary]) -> SendSummary:
    total = SendSummary(issue_id, options.segment)
    for summary in summaries:
        total.added += summary.added
        total.attempted += summary.attempted
        for state, number in summary.outcome.items():
            total.outcome[state] = total.outcome.get(state, 0) + number
        total.interrupted = total.interrupted or summary.interrupted
        total.aborted = total.aborted or summary.aborted
        total.undone += summary.undone
        total.paused = max(total.paused, summary.paused)
    return total
