"""The send journal: who is to get an issue, and what happened to each message.

The journal is the truth after any crash. Recipients are frozen into it when a send starts
(`freeze`); every state change is committed before the next step that depends on it, by the
group-commit writer (`writer.JournalWriter`); several senders share the rows through leases
(`leases`). A row is `sending` only while its message is with the server, so after a crash at
most one row per connection is uncertain. This module reads the journal back (`counts`,
`problems`), puts rows back in the queue (`requeue`, `undo_bounces`) and counts what is left.

The states, and which run sends them, are documented in docs/outcomes.md (models.State).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Select, exists, func, literal, or_, select, true, update
from sqlalchemy.orm import Session

from ..db import Database, utcnow
from ..db.bulk import insert_or_skip
from ..subscribers.models import Status, Subscriber
from . import effects
from .effects import Cause
from .leases import alive_workers
from .models import Delivery, Send, SendWorker, State

PAGE = 500
deliveries = Delivery.__table__


# Journal rows added per write transaction by `freeze_in_steps`.
FREEZE_STEP = 5_000


def sent_to_segment(session: Session, issue_id: str, segment: str) -> bool:
    """Whether the issue was sent (or began to be) to this very segment: a run now resumes."""
    return session.scalar(select(Send.id).where(Send.issue_id == issue_id, Send.segment == segment)
                          .limit(1)) is not None


def not_in_journal(issue_id: str, member_ids: Select) -> Select:
    """The ids of `member_ids` that the issue's journal does not hold: who would be added."""
    members = member_ids.subquery()
    # a probe of the journal's unique (issue, subscriber) index per member, not NOT IN the issue's
    # whole journal (which a stepped freeze would read again at every step)
    already = exists().where(deliveries.c.issue_id == issue_id, deliveries.c.subscriber_id == members.c.id)
    return select(members.c.id).where(~already)


def pending_ids(issue_id: str, states: tuple[State, ...]) -> Select:
    """The subscriber ids of the journal's rows in `states` (who a run would mail)."""
    return select(deliveries.c.subscriber_id).where(
        deliveries.c.issue_id == issue_id, deliveries.c.state.in_([s.value for s in states]),
        deliveries.c.subscriber_id.is_not(None))


def freeze(session: Session, issue_id: str, segment: str, member_ids: Select,
           include_new: bool = False) -> int:
    """Add the segment's members to the issue's journal once; returns how many rows were added.

    A second send of the same issue to the same segment adds nobody (it resumes), unless
    `include_new`: then the members who joined the segment since are added too. Another segment
    adds only its members who are not in the journal yet, so nobody gets the issue twice.
    """
    if sent_to_segment(session, issue_id, segment) and not include_new:
        return 0
    added = _add_members(session, issue_id, member_ids)
    _record_send(session, issue_id, segment, added)
    return added


def freeze_in_steps(db: Database, issue_id: str, segment: str, member_ids: Select,
                    include_new: bool = False) -> int:
    """`freeze`, in write transactions of FREEZE_STEP members each, so that other writers of the
    list (one-click unsubscribes above all) wait for one step rather than for the whole list on
    SQLite, and not at all on PostgreSQL: there the steps only add journal rows and do not take
    the list's write lock (`Database.rows_session`; a step holding it for 50-200 ms at a time
    was most of a one-click POST's p99 during a send).

    The members are read first, without the write lock. The `sends` row comes last: a send stopped
    halfway freezes again when it resumes, adding only who is not in the journal yet; who left
    the segment meanwhile is skipped when claimed, like anyone who unsubscribes during a send.
    """
    with db.reader() as session:
        if sent_to_segment(session, issue_id, segment) and not include_new:
            return 0
        # steps of neighbouring rows, sorted by the database and read in batches into an array
        # of 8 bytes an id: 100,000 ids as one result took ~15 MB of Python objects at once, the
        # send's peak memory; sorted in Python, ~4 MB (docs/benchmarks.md)
        ids = array("q")
        ordered = member_ids.order_by(member_ids.selected_columns[0]).execution_options(yield_per=FREEZE_STEP)
        for batch in session.scalars(ordered).partitions():
            ids.extend(batch)
    added = 0
    for start in range(0, len(ids), FREEZE_STEP):
        step = ids[start:start + FREEZE_STEP].tolist()
        with db.rows_session() as session:
            added += _add_members(session, issue_id, select(Subscriber.id).where(Subscriber.id.in_(step)))
    with db.session() as session:
        _record_send(session, issue_id, segment, added)
    return added


def _record_send(session: Session, issue_id: str, segment: str, added: int) -> None:
    """The send's row: made by its first run (or by whichever worker gets there first); a later
    run that added members counts them in."""
    if not sent_to_segment(session, issue_id, segment):
        session.add(Send(issue_id=issue_id, segment=segment, recipients=added, started_at=utcnow()))
    elif added:
        session.execute(update(Send).where(Send.issue_id == issue_id, Send.segment == segment)
                        .values(recipients=Send.recipients + added))


def _add_members(session: Session, issue_id: str, member_ids: Select) -> int:
    """Journal rows for the members who have none for the issue yet, each with the edition of its
    reader's language; how many were added.

    Who has one is skipped by the journal's unique (issue, subscriber) index while inserting: an
    anti-join against the journal let PostgreSQL plan a scan of the issue's rows per step of
    `freeze_in_steps` (its statistics still saw the journal empty), 350,000 members in 67 s.

    The members' rows are locked FOR KEY SHARE (PostgreSQL): a subscriber erased meanwhile is
    left out rather than failing the foreign key, and status changes (NO KEY UPDATE: an
    unsubscribe) go on without waiting; on SQLite the transaction has the file's write lock.
    """
    members = member_ids.subquery()
    rows = (select(members.c.id, literal(issue_id, deliveries.c.issue_id.type),
                   literal(State.QUEUED.value, deliveries.c.state.type),
                   literal(utcnow(), deliveries.c.updated_at.type), Subscriber.language)
            .join(Subscriber, Subscriber.id == members.c.id)
            .where(true())  # SQLite: INSERT ... SELECT needs a WHERE before ON CONFLICT
            .with_for_update(read=True, key_share=True, of=Subscriber))
    statement = insert_or_skip(deliveries, session.get_bind().dialect).from_select(
        ["subscriber_id", "issue_id", "state", "updated_at", "edition"], rows).on_conflict_do_nothing(
        index_elements=[deliveries.c.issue_id, deliveries.c.subscriber_id])
    # (Session.execute is typed as returning any Result; DML gives a CursorResult. Without
    # preserve_rowcount an INSERT ... SELECT on PostgreSQL reports -1 rows.)
    result = cast("CursorResult[Any]", session.execute(
        statement, execution_options={"preserve_rowcount": True}))
    return result.rowcount or 0


NO_EDITION = "-"  # the edition reported for a row from before editions, or for what lost its row


def edition_of(edition: str | None) -> str:
    """The edition a journal row's reader got, as status and reports name it: `deliveries.edition`
    is the one record of it (anything about a row, such as a click or a bounce, is its row's)."""
    return edition or NO_EDITION


def counts_by_edition(session: Session, issue_id: str) -> dict[str, dict[str, int]]:
    """edition -> state -> messages, for an issue sent in several editions (`issue status`)."""
    found: dict[str, dict[str, int]] = {}
    for edition, state, number in session.execute(
            select(Delivery.edition, Delivery.state, func.count()).where(Delivery.issue_id == issue_id)
            .group_by(Delivery.edition, Delivery.state)):
        found.setdefault(edition_of(edition), {state.value: 0 for state in State})[state] = number
    return dict(sorted(found.items()))


def counts(session: Session, issue_id: str) -> dict[str, int]:
    found = dict(session.execute(select(Delivery.state, func.count()).where(
        Delivery.issue_id == issue_id).group_by(Delivery.state)).all())
    return {state.value: found.get(state.value, 0) for state in State}


def has_journal(session: Session, issue_id: str) -> bool:
    return session.scalar(select(Send.id).where(Send.issue_id == issue_id).limit(1)) is not None


@dataclass(frozen=True)
class Problem:
    email: str
    state: str
    attempts: int
    reply: str
    updated_at: datetime


def problems(session: Session, issue_id: str, states: tuple[State, ...], limit: int = 20) -> list[Problem]:
    """The latest rows in `states` with their last SMTP reply (for `issue status`)."""
    rows = session.execute(
        select(Subscriber.email, Delivery.state, Delivery.attempts, Delivery.last_reply,
               Delivery.updated_at)
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.issue_id == issue_id, Delivery.state.in_([s.value for s in states]))
        .order_by(Delivery.updated_at.desc(), Delivery.id.desc()).limit(limit))
    return [Problem(email or "(erased)", state, attempts, reply, at)
            for email, state, attempts, reply, at in rows]


def requeue(session: Session, issue_id: str, states: tuple[State, ...], lease: float) -> int:
    """Put rows in `states` back in the queue (e.g. uncertain ones, on --resend-uncertain), but
    not the rows of a worker still alive: a `sending` row of another sender is with its server."""
    alive = select(SendWorker.id).where(alive_workers(issue_id, lease, utcnow()))
    result = cast("CursorResult[Any]", session.execute(update(deliveries).where(
        deliveries.c.issue_id == issue_id, deliveries.c.state.in_([s.value for s in states]),
        or_(deliveries.c.worker.is_(None), deliveries.c.worker.not_in(alive)))
        .values(state=State.QUEUED.value, lease_until=None, updated_at=utcnow())))
    return result.rowcount or 0


def undo_bounces(session: Session, issue_id: str, rows: list[int], reason: str) -> int:
    """Put rows that a relay-wide refusal bounced back in the queue, and their subscribers back
    to active (an event each, the suppression entry removed); returns how many were undone.

    The circuit breaker calls this when the same permanent reply refused many recipients in a
    row: such a reply speaks of the relay or our setup, so it must not cost anyone their
    subscription.
    """
    undone = 0
    for start in range(0, len(rows), PAGE):
        bounced = session.execute(select(Delivery.id, Subscriber).join(
            Subscriber, Subscriber.id == Delivery.subscriber_id).where(
            Delivery.issue_id == issue_id, Delivery.id.in_(rows[start:start + PAGE]),
            Delivery.state == State.BOUNCED.value, Subscriber.status == Status.BOUNCED)).all()
        for _, subscriber in bounced:
            effects.apply(session, subscriber, Cause.BOUNCE_UNDONE, actor=effects.SENDER_ACTOR,
                          issue_id=issue_id, reason=f"{reason} (issue {issue_id})")
        if bounced:
            session.execute(update(deliveries).where(deliveries.c.id.in_([key for key, _ in bounced]))
                            .values(state=State.QUEUED.value, last_reply=reason, updated_at=utcnow()))
        undone += len(bounced)
    return undone


def count_pending(session: Session, issue_id: str, states: tuple[State, ...]) -> int:
    return session.scalar(select(func.count()).select_from(deliveries).where(
        deliveries.c.issue_id == issue_id, deliveries.c.state.in_([s.value for s in states]))) or 0
