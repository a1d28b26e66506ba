"""The SQL gbaletter builds renders for PostgreSQL too (compiled only: no server here)."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import psycopg2

from support.subscriber_helpers import open_db

from gbaletter.db.bulk import DriverStatement, InLookup
from gbaletter.subscribers.importer import NEW_ROW_COLUMNS, _insert_new_addresses
from gbaletter.subscribers.models import Subscriber, subscriber_tags
from gbaletter.subscribers.segments import segment_filter

POSTGRESQL = psycopg2.dialect()  # its JSON support needs no driver installed


def test_segment_queries(workspace_dir):
    with open_db(workspace_dir).reader() as session:
        query = segment_filter(session, 'tag:technology and not tag:finance and attr.lang = "en" '
                                        "and attr.company.name != Pearl and joined >= 2019-06-01 "
                                        "and domain in (gmail.com, qq.com)")
    sql = str(query.compile(dialect=POSTGRESQL))
    assert "FROM subscriber_tags JOIN subscribers ON subscribers.id = subscriber_tags.subscriber_id" in sql
    assert "NOT (EXISTS (SELECT *" in sql
    assert "CAST((subscribers.attributes ->> %(attributes_1)s) AS VARCHAR) = %(param_1)s" in sql
    assert "coalesce(CAST((subscribers.attributes #>> %(attributes_2)s) AS VARCHAR)" in sql
    assert "subscribers.email LIKE '%%' || %(email_1)s ESCAPE '/'" in sql
    assert "JSON_EXTRACT" not in sql


def test_import_statements():
    statement = DriverStatement(_insert_new_addresses(POSTGRESQL), POSTGRESQL, NEW_ROW_COLUMNS)
    assert statement.sql.endswith("ON CONFLICT (email_hash) DO NOTHING")
    assert not statement.positional
    links = DriverStatement(insert(subscriber_tags), POSTGRESQL, ("subscriber_id", "tag_id"))
    assert links.convert([(1, 2)]) == [{"subscriber_id": 1, "tag_id": 2}]
    lookup = InLookup(POSTGRESQL, (Subscriber.email_hash, Subscriber.id), Subscriber.email_hash)
    assert lookup.key is Subscriber.email_hash
