"""The import's parser process: what it sends is what SQLAlchemy would send, in chunks that make
up the batches, and it starts without the database stack."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from support.subscriber_helpers import open_db, write_csv

from gbaletter.db.bulk import CopyIn, DriverStatement
from gbaletter.subscribers import importer
from gbaletter.subscribers.models import Subscriber
from gbaletter.subscribers.rows import (NEW_ROW_COLUMNS, Columns, RowParser, _json_text,
                                        new_subscriber_values, read_records)
from gbaletter.subscribers.service import find_subscriber
from gbaletter.subscribers.sqliteload import insert_new_addresses
from gbaletter.subscribers.status import Status

CSV = ("email,name,tags,city,joined,language\n"
       "mei@example.com,陳美,\"technology, finance\",香港,2019-06-01 10:22:33+08:00,\n"
       "ana@example.org,Ana,,Macau,,zh-HK\n")
NOW = datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC)


def _rows(tmp_path):  # type: ignore[no-untyped-def]
    records = read_records(write_csv(tmp_path, CSV))
    _, header = next(records)
    parser = RowParser(Columns.from_header(header, "members.csv"), status=Status.ACTIVE,
                       extra_tags=(), source="import members.csv", languages=("en", "zh-Hant"))
    return [parser.parse(line, fields) for line, fields in records]


def _as_sqlalchemy_takes_them(rows):  # type: ignore[no-untyped-def]
    return [(row.email, row.key, row.name, row.status, row.attributes, row.source,
             row.joined or NOW, NOW, row.joined or NOW, row.language or "en") for row in rows]


def test_values_for_sqlite_are_what_sqlalchemy_sends(tmp_path):
    rows = _rows(tmp_path)
    statement = DriverStatement(insert_new_addresses(sqlite.dialect()), sqlite.dialect(),
                                NEW_ROW_COLUMNS)
    assert statement.bind_names == list(NEW_ROW_COLUMNS)  # the values' order is the statement's
    ours = new_subscriber_values(rows, NOW, "en", dates_as_text=True)
    assert ours == statement.convert(_as_sqlalchemy_takes_them(rows))
    assert ours[0][6] == "2019-06-01 02:22:33.000000"  # joined, in UTC
    assert ours[1][7] == "2026-12-06 01:02:03.456789"


def test_values_for_postgresql_are_what_sqlalchemy_sends(tmp_path):
    rows = _rows(tmp_path)
    copy = CopyIn(Subscriber.__table__, postgresql.psycopg.dialect(), NEW_ROW_COLUMNS, binary=True)
    ours = new_subscriber_values(rows, NOW, "en", dates_as_text=False)
    # a binary COPY sends JSON as its text, serialized as SQLAlchemy would
    assert ours == copy.convert(_as_sqlalchemy_takes_them(rows))
    assert ours[0][6] == datetime(2019, 6, 1, 2, 22, 33)
    assert copy.sql.endswith("(FORMAT BINARY)")


def test_grouped_rows_go_in_in_order_and_are_counted():
    """Many rows a statement, the last statement shorter; the skipped ones are not counted."""
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True, autoincrement=True),
                  Column("n", Integer, unique=True), Column("m", Integer))
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    plain = DriverStatement(insert(table), engine.dialect, ("n", "m"), grouped=True)
    skipping = DriverStatement(sqlite.insert(table).on_conflict_do_nothing(), engine.dialect,
                               ("n", "m"), grouped=True)
    rows = [(n, -n) for n in range(1_003, 0, -1)]  # 499 rows a statement: three of them
    with engine.begin() as connection:
        assert plain.run(connection, rows) == 1_003
        assert skipping.run(connection, [(5, 0), (2_000, 1)]) == 1
        assert connection.execute(select(table.c.n, table.c.m).order_by(table.c.id)).all() == [
            *rows, (2_000, 1)]


def test_attribute_json_is_json_dumps_text():
    texts = ["", "plain", 'q"uote', "back\\slash", "/", "\x00\x1f\x7f\n\t", "香港", "é", "\u2028",
             "\U0001f600", "\ud800", "'=1"]
    objects = [{}, *({key: value} for key in texts for value in texts),
               dict(zip(texts, reversed(texts), strict=True)),
               {"n": 1, "f": 2.5, "t": True, "none": None, "list": ["a", 1], "deep": {"a": {"b": []}}},
               {"city": "Macau", "n": 1}]
    for attributes in objects:
        assert _json_text(attributes) == json.dumps(attributes), attributes


def test_the_parser_process_starts_without_the_database_stack():
    done = subprocess.run([sys.executable, "-c", "import sys, gbaletter.subscribers.parsing; "
                           "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', "
                           "'alembic', 'click', 'rich'))))"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_repeat_in_another_chunk_of_the_same_batch_is_a_duplicate(workspace_dir, run_cli,
                                                                    monkeypatch):
    monkeypatch.setattr(importer, "CHUNK_SIZE", 2)
    members = write_csv(workspace_dir, "email,name,tags\na@example.com,First,x\nb@example.com,B,\n"
                                       "c@example.com,C,\nA@example.com,Later,y\n"
                                       "d@example.com,D,\n")
    result = run_cli(workspace_dir, "subscribers", "import", str(members), "--json")
    report = json.loads(result.output)
    assert (report["added"], report["duplicates"], report["updated"]) == (4, 1, 0)
    with open_db(workspace_dir).reader() as session:
        first = find_subscriber(session, "a@example.com")
        assert (first.name, first.tag_names) == ("First", ["x"])


def test_chunks_make_up_batches(tmp_path):
    text = "email\n" + "".join(f"r{n}@example.com\n" for n in range(7)) + "r0@example.com\n"
    records = read_records(write_csv(tmp_path, text))
    _, header = next(records)
    parser = RowParser(Columns.from_header(header, "members.csv"), status=Status.ACTIVE,
                       extra_tags=(), source="import members.csv")
    chunks = list(parser.chunks(records, batch_size=3, chunk_size=2, dates_as_text=True))
    assert [(len(chunk.values), chunk.ends_batch) for chunk in chunks] == [
        (2, False), (1, True), (2, False), (1, True), (2, False), (0, True)]
    assert [chunk.last_line for chunk in chunks] == [3, 4, 6, 7, 9, 0]
    assert sum(chunk.duplicates for chunk in chunks) == 0  # r0 again, batches later: the database tells
