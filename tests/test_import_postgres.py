"""The import on PostgreSQL (subscribers/import_postgres.py): new rows are COPYed straight into
`subscribers`, so their ids must come in file order, their attribute entries from the insert
trigger, and no other writer may add one of their addresses between the lookup and the COPY
(the list's write lock keeps gbaletter's writers out; anything else meets the unique index)."""

from __future__ import annotations

import signal
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
from gbaletter.interrupts import StopRequested
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


@pytest.mark.parametrize("batched", [False, True], ids=["one transaction", "batched"])
def test_an_address_added_without_the_write_lock_stops_the_batch_without_a_double(db, workspace_dir,
                                                                                   postgres_database, batched):
    members = _members_csv(workspace_dir)
    url = make_url(postgres_database)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                         dbname=url.database, options=url.query["options"]) as other:
        other.execute("INSERT INTO subscribers (email, email_hash, name, status, attributes, consent_source, "
                      "created_at, updated_at, status_changed_at) VALUES (%s, %s, 'Other program', 'active', "
                      "'{}', '', now(), now(), now())", ("p3@example.com", email_hash("p3@example.com")))
        thread, outcome = _in_thread(lambda: CsvImport(db, members, batched=batched).run())
        _wait_until_blocked(postgres_database, "transactionid")  # the COPY, at the unique index
        other.commit()
    thread.join(WAIT_SECONDS)
    assert isinstance(outcome[0], import_postgres.ConcurrentAddition)
    assert "an address of lines 2-8 was added to the list by another program" in str(outcome[0])
    assert ("this batch was not stored" if batched else "nothing was stored") in str(outcome[0])
    with db.reader() as session:
        assert session.scalars(sa.select(Subscriber.name)).all() == ["Other program"]


# Loading an empty list: one transaction, which looks up only what the load may have added itself.
TABLES = {  # what is compared, ids included (both lists are made from an empty one)
    "subscribers": "SELECT id, email, encode(email_hash, 'hex'), name, status, attributes::text, "
                   "consent_source, language FROM subscribers ORDER BY id",
    "tags": "SELECT st.subscriber_id, t.name FROM subscriber_tags st JOIN tags t ON t.id = st.tag_id "
            "ORDER BY 1, 2",
    "entries": "SELECT key, value, subscriber_id FROM subscriber_attributes ORDER BY 1, 2, 3",
    "suppressions": "SELECT encode(email_hash, 'hex'), reason, detail FROM suppressions ORDER BY 1",
}
# Rows repeating earlier ones in later chunks (chunks of 2, batches of 3, as the tests set them):
# the first row of an address wins, whatever the later ones bring.
REPEATS = [
    "P1@example.com,Later,policy,pt,Zhuhai",  # new name, tag and attributes: a duplicate
    "p2@example.com,Again,,en,",
    "p9@example.com,Unsubscribed,technology,en,Macau,unsubscribed",  # new, suppressed
    "p1@example.com,Third,finance,,",  # a third row for p1
    "p9@example.com,Back,,en,",  # its first row unsubscribed: suppressed again
    "p4@example.com,Later,,,,unsubscribed",  # its first row was active: a duplicate
    "p10@example.com,Last,policy,zh,Zhuhai",
]


def _load_members(folder):  # type: ignore[no-untyped-def]
    return write_csv(folder, "email,name,tags,lang,city,status\n" + "".join(
        f"{email},{email[:2]},{tags},{lang},{city},\n" for email, tags, lang, city in PEOPLE)
        + "".join(f"{row}\n" if row.count(",") == 5 else f"{row},\n" for row in REPEATS))


def _import_into(postgres, workspace_dir, monkeypatch, members, **options):  # type: ignore[no-untyped-def]
    """Import into a new empty database: (the report, what the tables hold, the hashes looked up)."""
    url = postgres.create_database()
    monkeypatch.setenv("GBALETTER_DATABASE_URL", url)
    database = open_database(load_workspace(workspace_dir))
    asked: list[bytes] = []
    fetch = import_postgres.AddressLookup.fetch

    def fetch_counted(self, connection, keys):  # type: ignore[no-untyped-def]
        found = fetch(self, connection, keys)
        asked.extend(keys)
        return found

    monkeypatch.setattr(import_postgres.AddressLookup, "fetch", fetch_counted)
    try:
        report = CsvImport(database, members, batch_size=3, **options).run()
        with database.engine.connect() as connection:
            made = {name: connection.exec_driver_sql(sql).all() for name, sql in TABLES.items()}
    finally:
        monkeypatch.setattr(import_postgres.AddressLookup, "fetch", fetch)
        database.dispose()
        postgres.drop_database(url)
    return report, made, asked


@pytest.mark.parametrize("filter_bits", [None, 8], ids=["filter", "false-positives"])
def test_an_empty_list_loaded_whole_is_the_list_batches_make(postgres, workspace_dir, monkeypatch, filter_bits):
    """Repeats across chunks: the first row wins and the counts are a batched import's. A filter
    of 8 bits says nearly every address may have been added: the lookups find the truth."""
    monkeypatch.setattr(importer, "CHUNK_SIZE", 2)
    members = _load_members(workspace_dir)
    batched, batches_made, _ = _import_into(postgres, workspace_dir, monkeypatch, members, batched=True)
    if filter_bits:
        monkeypatch.setattr(import_postgres, "MAX_FILTER_BITS", filter_bits)
    whole, made, asked = _import_into(postgres, workspace_dir, monkeypatch, members)
    assert whole.one_transaction and not batched.one_transaction
    assert {**whole.as_dict(), "one_transaction": None} == {**batched.as_dict(), "one_transaction": None}
    assert (whole.added, whole.updated, whole.duplicates, whole.suppressed) == (8, 0, 4, 2)
    assert made == batches_made
    assert [row[3] for row in made["subscribers"]] == [*(email[:2] for email, *_ in PEOPLE), "Unsubscribed", "Last"]
    # p9's second row is kept out by the suppression list before the lookup
    repeats = {email_hash(f"{name}@example.com") for name in ("p1", "p2", "p4")}
    if filter_bits:
        assert len(set(asked)) > len(repeats)  # addresses seen for the first time were looked up too
    else:
        assert set(asked) == repeats


def test_a_sign_up_during_the_load_of_an_empty_list_waits_for_all_of_it(db, workspace_dir, monkeypatch,
                                                                          postgres_database):
    monkeypatch.setattr(importer, "CHUNK_SIZE", 2)  # four chunks in three batches
    members = _members_csv(workspace_dir)
    real, sign_ups = import_postgres.NewRows.insert, []

    def sign_up() -> int:
        with db.session() as session:
            return add_subscriber(session, "new@example.com", name="Signed up").id

    def insert_then_a_sign_up(self, connection, rows, lines):  # type: ignore[no-untyped-def]
        ids = real(self, connection, rows, lines)
        if not sign_ups:  # after the first chunk: batches would let it in after the first batch
            sign_ups.append(_in_thread(sign_up))
            _wait_until_blocked(postgres_database, "advisory")
        return ids

    monkeypatch.setattr(import_postgres.NewRows, "insert", insert_then_a_sign_up)
    report = CsvImport(db, members, batch_size=3).run()
    assert report.one_transaction and report.added == 7
    thread, outcome = sign_ups[0]
    thread.join(WAIT_SECONDS)
    with db.reader() as session:
        ids = dict(session.execute(sa.select(Subscriber.email, Subscriber.id)).all())
    signed_up = ids.pop("new@example.com")
    assert outcome == [signed_up] and signed_up > max(ids.values())  # after every imported row


def test_ctrl_c_during_the_load_of_an_empty_list_saves_nothing(db, workspace_dir, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK_SIZE", 2)
    members = _members_csv(workspace_dir)
    job, stops = CsvImport(db, members, batch_size=3), iter([signal.SIGINT])  # one Ctrl-C, after a batch
    with pytest.raises(StopRequested):
        job.run(lambda report: report.lines_done > 4 and signal.raise_signal(next(stops)))
    assert job.report.one_transaction and job.report.saved == 0
    with db.engine.connect() as connection:
        for table in ("subscribers", "subscriber_tags", "subscriber_attributes", "suppressions"):
            assert connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0, table
    assert CsvImport(db, members, batch_size=3).run().added == 7
