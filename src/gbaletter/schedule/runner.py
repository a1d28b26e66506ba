"""The scheduler: send what is due, exactly once, however many schedulers run.

Every pending schedule that is due is claimed with one conditional UPDATE
(`SET state = 'sending' WHERE id = :id AND state = 'pending'`); the row count says whether this
scheduler won. SQLite serializes writers (the session takes the write lock at BEGIN) and
PostgreSQL re-checks the WHERE of a row another transaction changed, so on both exactly one
claim succeeds. The loser moves on; the winner sends through `delivery.sender.send_issue`,
which refuses a stale build and check errors, and records the outcome on the row.

A scheduler that dies mid-send (SIGKILL, a crash, a power loss) leaves its row `sending`. The
next scheduler to look takes it over once that scheduler is known to be gone: a process of this
host that no longer runs, or one whose send has not renewed its heartbeat for a lease. Within the
late window it resumes the send (the journal sends only what is left, and the messages the dead
one had with its server are reported uncertain, never sent again by themselves); after the window
it marks the row `incomplete` and reports it, as it reports a missed one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..config import Workspace
from ..db import Database
from ..db.base import utcnow
from ..delivery import leases
from ..delivery.processes import gone_from_this_host, process_name
from ..delivery.sender import SendOptions, SendSummary, send_issue
from ..errors import GbaletterError
from ..interrupts import StopRequest, StopRequested
from .models import Schedule, ScheduleState
from .policy import Action, due_action, local_label
from .service import leave_pending, take_over

@dataclass(frozen=True)
class Outcome:
    """What one scheduler did with one schedule."""

    schedule_id: int
    issue_id: str
    segment: str
    state: ScheduleState
    message: str

    @property
    def problem(self) -> bool:
        """Anything an operator must look at: only a complete send is not one."""
        return self.state is not ScheduleState.SENT

    def line(self) -> str:
        return f"schedule {self.schedule_id} (issue {self.issue_id} to {self.segment}): {self.message}"


def _finish(db: Database, schedule_id: int, state: ScheduleState, message: str) -> None:
    with db.session() as session:
        session.connection().execute(update(Schedule).where(Schedule.id == schedule_id)
                                     .values(state=state.value, outcome=message, finished_at=utcnow()))


def _messages(number: int) -> str:
    return f"{number} message" + ("" if number == 1 else "s")


def describe_send(summary: SendSummary) -> tuple[ScheduleState, str]:
    """The schedule's state and outcome line after a send."""
    done = ", ".join(f"{count} {state}" for state, count in sorted(summary.outcome.items())) or "nothing to send"
    if summary.complete:
        return ScheduleState.SENT, f"sent: {done} ({_messages(summary.attempted)} in {summary.elapsed:.1f} s)"
    if summary.aborted:
        why = f"stopped: {summary.aborted}"
    elif summary.interrupted:
        why = "stopped by a signal; messages in flight were finished"
    elif summary.uncertain:
        why = f"{_messages(len(summary.uncertain))} may or may not have been delivered"
    else:
        why = f"{_messages(summary.still_to_go)} still to go"
    return ScheduleState.INCOMPLETE, (f"incomplete: {done}; {why}; resume with: gbaletter issue send "
                                      f"{summary.issue_id} --segment {summary.segment}")


def _send(ws: Workspace, db: Database, schedule: Schedule, preface: str = "") -> Outcome:
    """Send the claimed schedule and record the outcome line, after `preface` (how it came to be
    sent by this scheduler, when that is news)."""
    try:
        summary = send_issue(ws, db, schedule.issue_id, SendOptions.for_workspace(ws, schedule.segment))
    except GbaletterError as exc:
        state, message = ScheduleState.FAILED, f"not sent: {' '.join(str(exc).split())}"
    except Exception as exc:  # a bug: record it on the row, then let it be seen with its traceback
        _finish(db, schedule.id, ScheduleState.FAILED, f"not sent: unexpected error {exc!r}")
        raise
    else:
        state, message = describe_send(summary)
    message = preface + message
    _finish(db, schedule.id, state, message)
    return Outcome(schedule.id, schedule.issue_id, schedule.segment, state, message)


def run_due(ws: Workspace, db: Database, clock: Callable[[], datetime] = utcnow) -> list[Outcome]:
    """Send every due schedule this scheduler manages to claim; mark the ones found too late.

    A stop signal (interrupts.StopRequest) stops the send under way, as it stops any send, and
    no further schedule is claimed: the ones left stay pending for the next scheduler.
    """
    window = timedelta(seconds=ws.config.schedule.late_window_seconds)
    outcomes: list[Outcome] = []
    with StopRequest() as stopping:
        for schedule in _abandoned(db, ws.config.smtp.lease):
            if stopping.requested:
                return outcomes
            if outcome := _take_over(ws, db, schedule, clock(), window):
                outcomes.append(outcome)
        with db.reader() as session:
            due = list(session.scalars(select(Schedule).where(
                Schedule.state == ScheduleState.PENDING.value, Schedule.send_at <= clock())
                .order_by(Schedule.send_at, Schedule.id)))
        for schedule in due:
            if stopping.requested:
                break
            now = clock()  # a long send before this one may have made it late
            action = due_action(schedule.send_at, now, window)
            if action is Action.MISS:
                message = (f"missed: due {local_label(schedule.send_at, ws.tz)}, found "
                           f"{local_label(now, ws.tz)}, later than late_window {ws.config.schedule.late_window}; "
                           f"not sent (send it by hand: gbaletter issue send {schedule.issue_id} "
                           f"--segment {schedule.segment})")
                if leave_pending(db, schedule.id, ScheduleState.MISSED, outcome=message, finished_at=now):
                    outcomes.append(Outcome(schedule.id, schedule.issue_id, schedule.segment,
                                            ScheduleState.MISSED, message))
            elif action is Action.SEND and leave_pending(db, schedule.id, ScheduleState.SENDING,
                                                       claimed_by=process_name(), claimed_at=now):
                outcomes.append(_send(ws, db, schedule))
    return outcomes


def _abandoned(db: Database, lease: float) -> list[Schedule]:
    """`sending` schedules whose scheduler is known to be gone: a process of this host that no
    longer runs, or one whose send has been quiet for more than a lease (any host)."""
    with db.reader() as session:
        return [schedule for schedule in session.scalars(select(Schedule).where(
                    Schedule.state == ScheduleState.SENDING.value).order_by(Schedule.send_at, Schedule.id))
                if gone_from_this_host(schedule.claimed_by)
                or (schedule.claimed_at is not None and leases.went_quiet(
                    session, schedule.issue_id, schedule.claimed_by, schedule.claimed_at, lease))]


def _take_over(ws: Workspace, db: Database, schedule: Schedule, now: datetime,
               window: timedelta) -> Outcome | None:
    """Resume an abandoned schedule within its late window, or report it after; None when another
    scheduler took it over first."""
    gone = f"the scheduler {schedule.claimed_by} that was sending it stopped (killed or crashed)"
    if due_action(schedule.send_at, now, window) is Action.SEND:
        if take_over(db, schedule, ScheduleState.SENDING, claimed_by=process_name(), claimed_at=now):
            return _send(ws, db, schedule, preface=f"resumed: {gone}; ")
        return None
    message = (f"incomplete: {gone}; found {local_label(now, ws.tz)}, later than late_window "
               f"{ws.config.schedule.late_window}; not resumed (see what went out: gbaletter issue status "
               f"{schedule.issue_id}; resume it by hand: gbaletter issue send {schedule.issue_id} "
               f"--segment {schedule.segment})")
    if take_over(db, schedule, ScheduleState.INCOMPLETE, outcome=message, finished_at=now):
        return Outcome(schedule.id, schedule.issue_id, schedule.segment, ScheduleState.INCOMPLETE, message)
    return None


def run_forever(ws: Workspace, db: Database, on_outcome: Callable[[Outcome], None]) -> None:
    """Poll every `[schedule] poll_interval` until SIGTERM or SIGINT (interrupts.StopRequest).

    A signal while idle stops at once; during a send, the send finishes the messages in flight,
    records its outcome, and the scheduler stops after it. A second signal ends it at once.
    """
    interval = ws.config.schedule.poll_interval_seconds
    with StopRequest() as stopping:
        while not stopping.requested:
            for outcome in run_due(ws, db):
                on_outcome(outcome)
            try:
                with stopping.waiting():
                    time.sleep(interval)
            except StopRequested:
                return
