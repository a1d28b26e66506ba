"""Adding, listing and cancelling schedules (the editor's side; `runner` is the scheduler's)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, select, update

from ..config import Workspace
from ..db import Database
from ..db.base import utcnow
from ..errors import GbaletterError
from ..subscribers.segments import segment_filter
from .models import Schedule, ScheduleState
from .policy import local_label, parse_send_time


def add_schedule(ws: Workspace, db: Database, issue_id: str, segment: str, at: str,
                 now: datetime | None = None) -> Schedule:
    """Plan the send of `issue_id` to `segment` at `at` (wall time in the workspace's timezone).

    The issue must exist and the segment must parse now, so a typo is found when the editor is
    there to fix it, not at 8 a.m. on Friday. The build is checked at send time (it may be made
    after scheduling). One pending schedule per issue and segment: a second would send nothing
    new (the journal resumes, it never sends twice) and only confuse the list.
    """
    if not (ws.issue_dir(issue_id) / "issue.yaml").is_file():
        raise GbaletterError(f"issue {issue_id} does not exist (no {ws.display(ws.issue_dir(issue_id))}/issue.yaml); "
                             f"run: gbaletter issue new")
    send_at = parse_send_time(at, ws.tz, now or utcnow())
    with db.session() as session:
        segment_filter(session, segment)  # raises on an unknown segment or a bad expression
        existing = session.scalars(select(Schedule).where(
            Schedule.issue_id == issue_id, Schedule.segment == segment,
            Schedule.state == ScheduleState.PENDING.value)).first()
        if existing:
            raise GbaletterError(f"issue {issue_id} to {segment} is already scheduled for "
                                 f"{local_label(existing.send_at, ws.tz)} (schedule {existing.id}); "
                                 f"cancel it first: gbaletter issue schedule --cancel {existing.id}")
        schedule = Schedule(issue_id=issue_id, segment=segment, send_at=send_at,
                            state=ScheduleState.PENDING.value)
        session.add(schedule)
        session.flush()
    return schedule


def list_schedules(db: Database, include_finished: bool = True) -> list[Schedule]:
    """Schedules in time order; without `include_finished`, only pending and sending ones."""
    query = select(Schedule).order_by(Schedule.send_at, Schedule.id)
    if not include_finished:
        query = query.where(Schedule.state.in_([ScheduleState.PENDING.value, ScheduleState.SENDING.value]))
    with db.reader() as session:
        return list(session.scalars(query))


def leave_pending(db: Database, schedule_id: int, state: ScheduleState, **values: object) -> bool:
    """Move a schedule out of `pending`, if it still is: the one conditional UPDATE behind every
    claim, miss and cancel. True for the one caller whose UPDATE changed the row."""
    return _move(db, schedule_id, state, values, Schedule.state == ScheduleState.PENDING.value)


def take_over(db: Database, schedule: Schedule, state: ScheduleState, **values: object) -> bool:
    """Move a `sending` schedule whose scheduler has gone, if nobody has since: the same kind of
    conditional UPDATE, on the claim as it was read (who and when), so that of several
    schedulers finding it at once exactly one takes it over."""
    return _move(db, schedule.id, state, values, Schedule.state == ScheduleState.SENDING.value,
                 Schedule.claimed_by == schedule.claimed_by, Schedule.claimed_at == schedule.claimed_at)


def _move(db: Database, schedule_id: int, state: ScheduleState, values: dict[str, object],
          *still: ColumnElement[bool]) -> bool:
    with db.session() as session:
        result = session.connection().execute(
            update(Schedule).where(Schedule.id == schedule_id, *still).values(state=state.value, **values))
        return result.rowcount == 1


def cancel_schedule(db: Database, schedule_id: int) -> Schedule:
    """Cancel a pending schedule: whichever comes first, the cancel or a scheduler's claim, wins,
    and a schedule already being sent cannot be cancelled halfway."""
    cancelled = leave_pending(db, schedule_id, ScheduleState.CANCELLED, finished_at=utcnow(), outcome="cancelled")
    with db.reader() as session:
        schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise GbaletterError(f"no schedule {schedule_id} (see: gbaletter issue schedules)")
    if not cancelled:
        raise GbaletterError(f"schedule {schedule_id} is {schedule.state}; only a pending schedule "
                             "can be cancelled")
    return schedule
