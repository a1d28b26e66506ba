"""The import on PostgreSQL (subscribers/import_postgres.py): new rows are COPYed straight into
`subscribers`, so their ids must come in file order, their attribute entries from the insert
trigger, and no other writer may add one of their addresses between the lookup and the COPY
(the list's write lock keeps gbaletter's writers out; anything else meets the unique index)."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import make_url

from support.subscriber_helpers import write_csv

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.errors import GbaletterError
from gbaletter.subscribers import import_postgres, importer
from gbaletter.subscribers.addresses import email_hash
from gbaletter.subscribers.importer import CsvImport
from gbaletter.subscribers.models import Subscriber, Tag, subscriber_attributes, subscriber_tags
from gbaletter.subscribers.service import add_subscriber, find_subscriber

WAIT_SECONDS = 20
PEOPLE = [(f"p{n}@example.com", ("technology", "finance", "")[n % 3], ("en", "zh")[n % 2], f"city {n}")
          for n in range(7)]


@pytest.fixture
def db(workspace_dir, postgres_database, monkeypatch):
    monkeypatch.setenv("GBALETTER_DATABASE_URL", postgres_database)
    database = open_database(load_workspace(workspace_dir))
    yield database
    database.dispose()


def _members_csv(folder, extra: str = ""):  # type: ignore[no-untyped-def]
    return write_csv(folder, "email,name,tags,lang,city\n" + "".join(
        f"{email},{email[:2]},{tags},{lang},{city}\n" for email, tags, lang, city in PEOPLE) + extra)


def _in_thread(work) -> tuple[threading.Thread, list]:  # type: ignore[no-untyped-def]
    """Run `work` in a thread; the list gets its result, or the exception it raised."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the test, which checks it
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _wait_until_blocked(url: str, lock_type: str) -> None:
    """Until a backend of the test's database waits for a lock of `lock_type`."""
    parsed = make_url(url)
    with psycopg.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                         password=parsed.password, dbname=parsed.database, autocommit=True) as admin:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if admin.execute("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                             "WHERE NOT l.granted AND l.locktype = %s AND a.application_name = %s",
                             (lock_type, parsed.query["application_name"])).fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError(f"nothing waited for a lock of type {lock_type}")


def test_new_rows_get_ids_in_file_order_their_tags_and_attribute_entries(db, workspace_dir, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK_SIZE", 2)  # four chunks in three batches, a COPY each
    members = _members_csv(workspace_dir, extra="P1@example.com,Later,finance,pt,Macau\n")
    report = CsvImport(db, members, batch_size=3).run()
    assert (report.added, report.duplicates, report.updated) == (7, 1, 0)
    with db.reader() as session:
        ids = dict(session.execute(sa.select(Subscriber.email, Subscriber.id)).all())
        assert sorted(ids, key=ids.__getitem__) == [email for email, *_ in PEOPLE]
        assert find_subscriber(session, "p1@example.com").name == "p1"  # the first row won
        entries = set(session.execute(sa.select(subscriber_attributes.c.subscriber_id,
                                                subscriber_attributes.c.key, subscriber_attributes.c.value)))
        links = set(session.execute(sa.select(subscriber_tags.c.subscriber_id, Tag.name)
                                    .join(Tag, Tag.id == subscriber_tags.c.tag_id)))
    assert entries == {(ids[email], key, value) for email, _, lang, city in PEOPLE
                       for key, value in (("lang", lang), ("city", city))}
    assert links == {(ids[email], tag) for email, tag, *_ in PEOPLE if tag}


def test_a_sign_up_in_progress_when_a_batch_begins_is_found_by_it(db, workspace_dir, postgres_database):
    members = _members_csv(workspace_dir)
    with db.session() as session:  # holds the list's write lock until it commits
        add_subscriber(session, "p3@example.com", name="Signed up")
        session.flush()
        thread, outcome = _in_thread(lambda: CsvImport(db, members).run())
        _wait_until_blocked(postgres_database, "advisory")
    thread.join(WAIT_SECONDS)
    report = outcome[0]
    # added by someone else while the import ran: a later row for it is a duplicate, not a merge
    assert (report.added, report.duplicates) == (6, 1)
    with db.reader() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 7
        assert find_subscriber(session, "p3@example.com").name == "Signed up"


def test_a_sign_up_during_a_batch_waits_for_it_and_finds_the_address(db, workspace_dir, monkeypatch,
                                                                       postgres_database):
    members = _members_csv(workspace_dir)
    real, sign_ups = import_postgres.NewRows.insert, []

    def sign_up() -> None:
        with db.session() as session:
            add_subscriber(session, "p3@example.com", name="Signed up")

    def insert_then_a_sign_up(self, connection, rows, lines):  # type: ignore[no-untyped-def]
        ids = real(self, connection, rows, lines)
        sign_ups.append(_in_thread(sign_up))  # while the batch's transaction is open
        _wait_until_blocked(postgres_database, "advisory")
        return ids

    monkeypatch.setattr(import_postgres.NewRows, "insert", insert_then_a_sign_up)
    assert CsvImport(db, members).run().added == 7
    thread, outcome = sign_ups[0]
    thread.join(WAIT_SECONDS)
    assert isinstance(outcome[0], GbaletterError)
    assert str(outcome[0]).startswith("p3@example.com is already on the list")
    with db.reader() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 7
        assert find_subscriber(session, "p3@example.com").name == "p3"


def test_an_address_added_without_the_write_lock_stops_the_batch_without_a_double(db, workspace_dir,
                                                                                   postgres_database):
    members = _members_csv(workspace_dir)
    url = make_url(postgres_database)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                         dbname=url.database, options=url.query["options"]) as other:
        other.execute("INSERT INTO subscribers (email, email_hash, name, status, attributes, consent_source, "
                      "created_at, updated_at, status_changed_at) VALUES (%s, %s, 'Other program', 'active', "
                      "'{}', '', now(), now(), now())", ("p3@example.com", email_hash("p3@example.com")))
        thread, outcome = _in_thread(lambda: CsvImport(db, members).run())
        _wait_until_blocked(postgres_database, "transactionid")  # the COPY, at the unique index
        other.commit()
    thread.join(WAIT_SECONDS)
    assert isinstance(outcome[0], import_postgres.ConcurrentAddition)
    assert "an address of lines 2-8 was added to the list by another program" in str(outcome[0])
    with db.reader() as session:
        assert session.scalars(sa.select(Subscriber.name)).all() == ["Other program"]
