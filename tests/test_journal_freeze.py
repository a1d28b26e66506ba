"""A send freezes its recipients in steps (`journal.freeze_in_steps`), so other writers of the
list wait for one step, not the whole list: everyone once, the `sends` row last, a stopped freeze
completed without doubles."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gbaletter.db import open_database, utcnow
from gbaletter.delivery import journal
from gbaletter.delivery.models import Delivery, Send
from gbaletter.subscribers.segments import segment_filter
from gbaletter.subscribers.service import add_subscriber

ISSUE = "2019-W26"


def _journal(db) -> tuple[list[int], list[tuple[str, int]]]:
    with db.reader() as session:
        rows = session.scalars(sa.select(Delivery.subscriber_id).order_by(Delivery.subscriber_id)).all()
        sends = session.execute(sa.select(Send.segment, Send.recipients)).all()
    return list(rows), [tuple(send) for send in sends]


def _list(workspace, monkeypatch, step: int, count: int):
    """(database, subscriber ids, the members of tag:technology) with freezes of `step` rows."""
    monkeypatch.setattr(journal, "FREEZE_STEP", step)
    db = open_database(workspace)
    with db.session() as session:
        ids = [add_subscriber(session, f"r{n}@example.org", tags=["technology"]).id
               for n in range(count)]
    with db.reader() as session:
        return db, ids, segment_filter(session, "tag:technology")


def test_every_member_once_in_steps_and_the_send_row_last(workspace, monkeypatch):
    db, ids, members = _list(workspace, monkeypatch, 3, 10)
    assert journal.freeze_in_steps(db, ISSUE, "tag:technology", members) == 10
    assert _journal(db) == (ids, [("tag:technology", 10)])
    assert journal.freeze_in_steps(db, ISSUE, "tag:technology", members) == 0  # a resumed send
    assert _journal(db) == (ids, [("tag:technology", 10)])
    db.dispose()


def test_a_freeze_stopped_halfway_is_completed_without_doubles(workspace, monkeypatch):
    db, ids, members = _list(workspace, monkeypatch, 4, 9)
    with db.session() as session:  # what a send stopped after its first step left behind
        session.execute(sa.insert(Delivery), [
            {"issue_id": ISSUE, "subscriber_id": i, "state": "queued", "updated_at": utcnow()}
            for i in ids[:4]])
    assert journal.freeze_in_steps(db, ISSUE, "tag:technology", members) == 5
    assert _journal(db) == (ids, [("tag:technology", 5)])
    db.dispose()


def test_a_freeze_that_fails_keeps_its_committed_steps_and_no_send_row(workspace, monkeypatch):
    db, ids, members = _list(workspace, monkeypatch, 2, 5)
    real, calls = journal._add_members, []

    def fail_at_the_second_step(session, issue_id, member_ids):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(session, issue_id, member_ids)

    monkeypatch.setattr(journal, "_add_members", fail_at_the_second_step)
    with pytest.raises(OSError):
        journal.freeze_in_steps(db, ISSUE, "tag:technology", members)
    assert _journal(db) == (ids[:2], [])  # the first step stays; not frozen yet
    monkeypatch.setattr(journal, "_add_members", real)
    assert journal.freeze_in_steps(db, ISSUE, "tag:technology", members) == 3
    assert _journal(db) == (ids, [("tag:technology", 3)])
    db.dispose()
