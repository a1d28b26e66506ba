"""On PostgreSQL a send's freeze steps do not take the list's write lock (`Database.rows_session`):
a one-click unsubscribe commits while a step's transaction is open, and a subscriber erased
while a step waits for their row is left out of the journal instead of failing the step."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import make_url

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.delivery import journal
from gbaletter.delivery.effects import Cause
from gbaletter.delivery.models import Delivery
from gbaletter.links import signer_for
from gbaletter.subscribers.models import Status, Subscriber
from gbaletter.subscribers.segments import segment_filter
from gbaletter.subscribers.service import add_subscriber
from gbaletter.web.subscription import UnsubscribeLink, unsubscribe_many
from support.workspace import TEST_SECRET

ISSUE = "2019-W26"
WAIT_SECONDS = 20


@pytest.fixture
def db(workspace_dir, postgres_database, monkeypatch):
    monkeypatch.setenv("GBALETTER_DATABASE_URL", postgres_database)
    monkeypatch.setenv("GBALETTER_SECRET", TEST_SECRET)
    database = open_database(load_workspace(workspace_dir))
    yield database
    database.dispose()


def _members(db, count: int) -> list[int]:
    with db.session() as session:
        return [add_subscriber(session, f"r{n}@example.org", tags=["technology"]).id for n in range(count)]


def _step(ids: list[int]) -> sa.Select:
    return sa.select(Subscriber.id).where(Subscriber.id.in_(ids))


def _in_thread(work) -> tuple[threading.Thread, list]:
    results: list = []
    thread = threading.Thread(target=lambda: results.append(work()), daemon=True)
    thread.start()
    return thread, results


def test_a_one_click_unsubscribe_does_not_wait_for_an_open_freeze_step(db, workspace_dir, monkeypatch):
    ids = _members(db, 5)
    signer = signer_for(load_workspace(workspace_dir))
    real, answered = journal._add_members, []

    def one_click() -> list:
        with db.session() as session:
            return unsubscribe_many(session, signer, [(UnsubscribeLink(ids[0], ISSUE), Cause.ONE_CLICK, "test")])

    def step_then_a_one_click(session, issue_id, member_ids) -> int:
        added = real(session, issue_id, member_ids)
        thread, _ = _in_thread(one_click)  # while the step's transaction is still open
        thread.join(WAIT_SECONDS)
        answered.append(not thread.is_alive())
        return added

    monkeypatch.setattr(journal, "_add_members", step_then_a_one_click)
    with db.reader() as session:
        members = segment_filter(session, "tag:technology")
    assert journal.freeze_in_steps(db, ISSUE, "tag:technology", members) == 5
    assert answered == [True], "the unsubscribe waited for the freeze step"
    with db.reader() as session:
        assert session.get(Subscriber, ids[0]).status is Status.UNSUBSCRIBED
        # frozen all the same: the send skips them when it claims their row
        assert session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 5


def _waiting_for_a_row_lock(url: str) -> bool:
    parsed = make_url(url)
    with psycopg.connect(host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
                         dbname=parsed.database, autocommit=True) as admin:
        return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                             "AND application_name = %s", (parsed.query["application_name"],)).fetchone()[0] > 0


def test_a_subscriber_erased_during_a_freeze_step_is_left_out(db, postgres_database):
    ids = _members(db, 4)

    def freeze_step() -> int:
        with db.rows_session() as session:
            return journal._add_members(session, ISSUE, _step(ids))

    with db.session() as erasing:
        erasing.execute(sa.delete(Subscriber).where(Subscriber.id == ids[1]))
        thread, added = _in_thread(freeze_step)
        deadline = time.monotonic() + WAIT_SECONDS
        while not _waiting_for_a_row_lock(postgres_database) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert thread.is_alive(), "the step did not wait for the erased subscriber's row"
    thread.join(WAIT_SECONDS)
    assert added == [3]
    with db.reader() as session:
        frozen = session.scalars(sa.select(Delivery.subscriber_id).order_by(Delivery.subscriber_id)).all()
    assert frozen == [ids[0], ids[2], ids[3]]
