"""The SQL gbaletter builds renders for PostgreSQL too (compiled only: no server here)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import psycopg2
from sqlalchemy.dialects.sqlite import pysqlite

from support.subscriber_helpers import open_db

from gbaletter.db.bulk import DriverStatement, InLookup
from gbaletter.subscribers.models import Subscriber, subscriber_tags
from gbaletter.subscribers.query import parse_segment
from gbaletter.subscribers.ranges import members, not_mailable
from gbaletter.subscribers.rows import NEW_ROW_COLUMNS
from gbaletter.subscribers.segments import segment_filter
from gbaletter.subscribers.sqliteload import insert_new_addresses

POSTGRESQL = psycopg2.dialect()  # its JSON support needs no driver installed
SQLITE = pysqlite.dialect()


def test_segment_queries(workspace_dir):
    """A segment with parts no index decides: its ranges select who, its rows are read for the rest."""
    with open_db(workspace_dir).reader() as session:
        query = segment_filter(session, 'tag:technology and not tag:finance and attr.lang = "en" '
                                        "and attr.company.name != Pearl and joined >= 2019-06-01 "
                                        "and domain in (gmail.com, qq.com)")
    sql = str(query.compile(dialect=POSTGRESQL))
    assert "WHERE subscribers.id IN (SELECT " in sql  # the ranges, merged as the session's database does
    assert "FROM subscriber_attributes AS subscriber_attributes_1" in sql
    assert "coalesce(CAST((subscribers.attributes #>> %(attributes_1)s) AS VARCHAR)" in sql
    assert "subscribers.email LIKE '%%' || %(email_1)s ESCAPE '/'" in sql
    assert "JSON_EXTRACT" not in sql


def test_segments_of_ranges_only_read_no_row():
    """SQLite: one flat compound SELECT, merged in id order; PostgreSQL: semi- and anti-joins."""
    parsed = parse_segment('tag:technology and not tag:finance and attr.lang in (en, zh)', UTC)
    for dialect, shapes in ((SQLITE, ("INTERSECT SELECT subscriber_attributes_1.subscriber_id",
                                      "EXCEPT SELECT subscriber_tags_2.subscriber_id", "ORDER BY 1) AS members")),
                            (POSTGRESQL, ("AND subscriber_tags_1.subscriber_id IN (SELECT",
                                          "AND NOT (EXISTS (SELECT"))):
        query = members(dialect.name, parsed.ranges, parsed.excluded, not_mailable(datetime.now(UTC), False))
        sql = str(query.compile(dialect=dialect))
        assert all(shape in sql for shape in shapes), sql
        assert "((SELECT" not in sql  # SQLite takes no parentheses inside a compound
        assert "subscribers.status != 'active'" in sql  # as the partial index states it
        assert "JSON_EXTRACT" not in sql and "attributes ->>" not in sql


def test_import_statements():
    statement = DriverStatement(insert_new_addresses(SQLITE), SQLITE, NEW_ROW_COLUMNS)
    assert statement.sql.endswith("ON CONFLICT (email_hash) DO NOTHING")
    assert statement.positional
    links = DriverStatement(insert(subscriber_tags), POSTGRESQL, ("subscriber_id", "tag_id"))
    assert links.convert([(1, 2)]) == [{"subscriber_id": 1, "tag_id": 2}]
    lookup = InLookup(POSTGRESQL, (Subscriber.email_hash, Subscriber.id), Subscriber.email_hash)
    assert lookup.key is Subscriber.email_hash
