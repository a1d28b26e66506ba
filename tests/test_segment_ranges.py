"""Segments from index ranges: the attribute entries follow every write (triggers), and a segment
answered from the ranges selects exactly whom the same expression selects from the rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from support.subscriber_helpers import ok, open_db, write_csv

from gbaletter.db import Database, create_engine_for, utcnow
from gbaletter.db.migrate import upgrade
from gbaletter.subscribers.models import Status, Subscriber, subscriber_attributes
from gbaletter.subscribers.segments import count_members, segment_filter, stream_members
from gbaletter.subscribers.service import add_subscriber, change_status, find_subscriber, remove_subscriber

PEOPLE = [  # email, tags, attributes, status
    ("ann@example.com", ["technology"], {"lang": "en", "age": 30, "vip": True}, Status.ACTIVE),
    ("ben@example.com", ["technology", "finance"], {"lang": "en", "age": "30"}, Status.ACTIVE),
    ("cai@example.com", ["technology"], {"lang": "zh", "note": None, "city": "香港"}, Status.ACTIVE),
    ("dan@example.com", ["technology"], {"lang": "x" * 300}, Status.ACTIVE),
    ("eli@example.com", ["technology"], {"lang": "en"}, Status.UNSUBSCRIBED),
    ("fan@example.com", [], {"lang": "en", "tags": ["a", "b"]}, Status.ACTIVE),
    ("gil@example.com", ["technology"], {}, Status.UNCONFIRMED),
]
EXPRESSIONS = [
    'tag:technology and not tag:finance and attr.lang = "en"',
    "tag:technology and attr.age = 30",
    "tag:technology and attr.vip in (true, 1)",
    "tag:technology and attr.lang != en",
    "tag:technology and attr.lang not in (en, zh)",
    "tag:technology and not attr.lang in (en)",
    'tag:technology and attr.city = "香港"',
    "tag:technology and attr.note != x",
    f"tag:technology and attr.lang = {'x' * 300}",
    "attr.lang = en and not tag:technology",
    'attr.tags = \'["a","b"]\' or tag:nobody',
    "tag:technology and not not tag:finance",
    "tag:technology and status in (active, unsubscribed)",
]


@pytest.fixture
def db(workspace_dir) -> Database:
    database = open_db(workspace_dir)
    with database.session() as session:
        for email, tags, attributes, status in PEOPLE:
            add_subscriber(session, email, tags=tags, attributes=attributes, status=status)
    return database


def _emails(db: Database, expression: str, **options) -> list[str]:  # type: ignore[no-untyped-def]
    with db.reader() as session:
        ids = segment_filter(session, expression, **options)
        return [member.email for member in stream_members(session, ids, with_tags=False)]


def _entries(db: Database, email: str) -> set[tuple[str, str]]:
    with db.reader() as session:
        subscriber = find_subscriber(session, email)
        assert subscriber is not None
        table = subscriber_attributes
        rows = session.execute(sa.select(table.c.key, table.c.value)
                               .where(table.c.subscriber_id == subscriber.id))
        return {(key, value) for key, value in rows}


@pytest.mark.parametrize("expression", EXPRESSIONS)
@pytest.mark.parametrize("include_suppressed", [False, True])
def test_ranges_select_what_the_rows_select(db, expression, include_suppressed):
    """`(E) or (E)` is read from each row's JSON; `E` from the index ranges."""
    from_rows = _emails(db, f"({expression}) or ({expression})", include_suppressed=include_suppressed)
    assert _emails(db, expression, include_suppressed=include_suppressed) == from_rows


def test_ranges_are_used_and_give_the_expected_members(db):
    assert _emails(db, 'tag:technology and not tag:finance and attr.lang = "en"') == ["ann@example.com"]
    assert _emails(db, "tag:technology and attr.age = 30") == [
        "ann@example.com", "ben@example.com"]  # the number 30 and the text "30"
    assert _emails(db, "tag:technology and attr.lang != en") == [
        "cai@example.com", "dan@example.com"]  # dan's value is too long for the index: never "en"
    with db.reader() as session:
        sql = str(segment_filter(session, "tag:technology and attr.age = 30"))
    assert "subscriber_attributes" in sql and "subscribers.attributes" not in sql


def test_entries_hold_the_top_level_values_as_text(db):
    ann = _entries(db, "ann@example.com")
    assert {("lang", "en"), ("age", "30")} <= ann and {key for key, _ in ann} == {"lang", "age", "vip"}
    assert _entries(db, "cai@example.com") == {("lang", "zh"), ("city", "香港")}  # no null
    assert _entries(db, "dan@example.com") == set()  # longer than the index keeps


def test_entries_follow_imports_status_changes_and_erasure(db, workspace_dir, run_cli):
    csv = write_csv(workspace_dir, "email,lang,city\nben@example.com,zh,Macau\nhui@example.com,pt,Macau\n")
    ok(run_cli(workspace_dir, "subscribers", "import", str(csv)))
    assert _entries(db, "ben@example.com") == {("lang", "zh"), ("city", "Macau"), ("age", "30")}  # merged
    assert _entries(db, "hui@example.com") == {("lang", "pt"), ("city", "Macau")}
    assert _emails(db, "attr.city = Macau and attr.lang in (pt, zh)") == ["ben@example.com", "hui@example.com"]
    with db.session() as session:
        subscriber = find_subscriber(session, "hui@example.com")
        assert subscriber is not None
        change_status(session, subscriber, Status.UNSUBSCRIBED, actor="test")
        session.flush()
        subscriber.attributes = {"lang": "en"}
    assert _entries(db, "hui@example.com") == {("lang", "en")}
    assert _emails(db, "attr.city = Macau") == ["ben@example.com"]
    with db.session() as session:
        remove_subscriber(session, "ben@example.com", actor="test")
    with db.reader() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(subscriber_attributes)
                              .where(subscriber_attributes.c.value == "Macau")) == 0


def test_paused_and_suppressed_subscribers_are_left_out(db):
    with db.session() as session:
        ann = find_subscriber(session, "ann@example.com")
        assert ann is not None
        ann.paused_until = utcnow() + timedelta(days=3)
    assert _emails(db, "tag:technology and attr.lang = en") == ["ben@example.com"]
    assert _emails(db, "tag:technology and attr.lang = en", include_suppressed=True) == [
        "ann@example.com", "ben@example.com"]  # unsubscribed eli is not active either way
    with db.session() as session:
        ann = find_subscriber(session, "ann@example.com")
        assert ann is not None
        ann.paused_until = utcnow() - timedelta(seconds=1)
    assert _emails(db, "tag:technology and attr.lang = en") == ["ann@example.com", "ben@example.com"]


def test_the_migration_fills_the_entries_of_existing_subscribers(workspace):
    database = Database(create_engine_for(workspace.database_url))
    upgrade(database, "0014")
    now = utcnow().replace(tzinfo=None)
    table = sa.Table("subscribers", sa.MetaData(), autoload_with=database.engine)
    with database.engine.begin() as connection:
        connection.execute(table.insert(), [
            {"email": f"p{n}@example.com", "email_hash": bytes([n]) * 32, "name": "",
             "status": "active", "attributes": attributes, "consent_source": "test",
             "created_at": now, "updated_at": now, "status_changed_at": now}
            for n, attributes in enumerate([{"lang": "en"}, {"lang": "zh", "n": 5}, {}], 1)])
    upgrade(database)
    with database.reader() as session:
        assert count_members(session, segment_filter(session, "attr.lang = en and attr.lang != zh")) == 1
        assert count_members(session, segment_filter(session, "attr.n = 5 and not attr.lang = en")) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 3
