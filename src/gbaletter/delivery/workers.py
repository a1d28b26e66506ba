"""`issue send --workers N`: N sending processes on this host, each a worker of the same send.

Each worker is what `gbaletter issue send` is on its own (leases.claim_batch hands out the rows,
the leases take back a dead worker's), so N here and the same command on N hosts behave alike.
This process only forks them, shows the journal's progress, passes SIGTERM on (Ctrl-C reaches
them from the terminal; either stops them as a single send stops: messages in flight finish, and
a second one ends them at once, interrupts.py) and adds their summaries up.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..config import Workspace
from ..db import Database
from ..errors import GbaletterError
from ..interrupts import StopRequest
from . import journal
from .models import STILL_TO_GO, State
from .sender import UNCERTAIN_STATES, Progress, SendOptions, SendSummary, send_issue

if TYPE_CHECKING:
    from multiprocessing.connection import Connection as Pipe
    from multiprocessing.process import BaseProcess

POLL_SECONDS = 0.25


def send_with_workers(ws: Workspace, db: Database, issue_id: str, options: SendOptions, workers: int,
                      progress_start: Callable[[int], Progress] | None = None) -> SendSummary:
    """The send, by `workers` processes; one worker is `send_issue` itself."""
    if workers <= 1 or options.dry_run:
        return send_issue(ws, db, issue_id, options, progress_start)
    import multiprocessing  # only here: a send of one process does without it

    context = multiprocessing.get_context("fork")
    db.dispose()  # no pooled connection may be shared across the fork
    pipes, children = [], []
    for _ in range(workers):
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_work, args=(ws, db, issue_id, options, sender), daemon=False,
                                name="gbaletter-send-worker")
        child.start()
        sender.close()
        pipes.append(receiver)
        children.append(child)
    started = time.perf_counter()

    def pass_on(signum: int) -> None:
        for child in children:  # (Ctrl-C reaches them by itself, from the terminal; SIGTERM does not)
            if child.is_alive() and signum == signal.SIGTERM:
                child.terminate()

    with StopRequest(pass_on=pass_on) as stopping:
        results = _wait(db, issue_id, children, pipes, progress_start)
    summary = _added_up(issue_id, options, [r for r in results if isinstance(r, SendSummary)])
    errors = [r for r in results if isinstance(r, GbaletterError)]
    if errors and not summary.attempted:
        raise errors[0]
    summary.aborted = summary.aborted or (str(errors[0]) if errors else "")
    lost = workers - len(results)
    if lost and not stopping.requested:
        summary.aborted = summary.aborted or f"{lost} of {workers} workers ended without a report"
    summary.interrupted = summary.interrupted or stopping.requested
    with db.reader() as session:
        summary.totals = journal.counts(session, issue_id)
        summary.uncertain = [p.email for p in journal.problems(session, issue_id, UNCERTAIN_STATES,
                                                              limit=1000)]
    summary.elapsed = time.perf_counter() - started
    return summary


def _work(ws: Workspace, db: Database, issue_id: str, options: SendOptions, pipe: Pipe) -> None:
    """One worker (a forked process): its summary, or its one-line error, back to the parent."""
    result: SendSummary | GbaletterError
    try:
        result = send_issue(ws, db, issue_id, options)
    except GbaletterError as exc:
        result = exc
    pipe.send(result)
    pipe.close()


def _wait(db: Database, issue_id: str, children: Sequence[BaseProcess], pipes: list[Pipe],
          progress_start: Callable[[int], Progress] | None) -> list[SendSummary | GbaletterError]:
    """The workers' reports as they end; meanwhile the journal's counts drive the progress bar."""
    results: list[SendSummary | GbaletterError] = []
    progress: Progress | None = None
    shown: dict[str, int] = {}
    while pipes or any(child.is_alive() for child in children):
        for pipe in [pipe for pipe in pipes if pipe.poll(POLL_SECONDS / len(pipes))]:
            try:
                results.append(pipe.recv())
            except EOFError:  # the worker died without a word (killed)
                pass
            pipes.remove(pipe)
        if not pipes:
            time.sleep(POLL_SECONDS)
        with db.reader() as session:
            counts = journal.counts(session, issue_id)
        if not shown:
            shown = {state: counts[state] for state in _DONE}
            pending = sum(counts[state] for state in STILL_TO_GO)
            progress = progress_start(pending) if progress_start and pending else None
        for state in _DONE:
            for _ in range(counts[state] - shown[state]):
                if progress is not None:
                    progress(state)
            shown[state] = max(shown[state], counts[state])
    for child in children:
        child.join()
    return results


# the states a row ends a run in (the others are still to go, or in flight: sending)
_DONE = tuple(state.value for state in State if not (state.still_to_go or state is State.SENDING))


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
