"""`rows_statement`: one statement for many rows. On SQLite the driver's executemany; on
PostgreSQL every bind an array literal read back by `unnest`, so what a row says (quotes,
backslashes, commas, braces, the word NULL, Chinese, control characters) must reach its row
unchanged, and None must stay NULL (in text and timestamp columns alike). Run on both databases
whichever the suite runs on."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from gbaletter.db.bulk import ArrayStatement, array_literal, driver_cursor, rows_statement

METADATA = sa.MetaData()
NOTES = sa.Table("notes", METADATA, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("label", sa.String(200)), sa.Column("count", sa.Integer),
                 sa.Column("seen_at", sa.DateTime, nullable=True))
NAMES = ("b_label", "b_count", "b_seen_at", "b_key")

HOSTILE = ['plain', 'a,b', 'say "hi"', 'back\\slash', '\\"', '{brace}', '}', 'NULL', 'null', '',
           ' spaced ', '中文 «quoted»', '粵語\t分隔', 'line\nbreak', "it's", '"', '\\', '(1,2)']


def _set_note(value):
    return (sa.update(NOTES).where(NOTES.c.id == value("b_key"))
            .values(label=value("b_label"), count=value("b_count"), seen_at=value("b_seen_at")))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'notes.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_database"))
    engine = sa.create_engine(url)
    METADATA.create_all(engine)
    yield engine
    engine.dispose()


def test_array_literal_quotes_every_element_and_escapes_quotes_and_backslashes():
    assert array_literal([]) == "{}"
    assert array_literal(['a,b', 'say "hi"', 'c:\\', None, 7]) == '{"a,b","say \\"hi\\"","c:\\\\",NULL,"7"}'
    assert array_literal(["NULL"]) == '{"NULL"}'  # the word, not a missing value


def test_every_row_gets_its_own_values_back(engine):
    when = datetime(2026, 12, 6, 13, 45, 1, 234567)
    with engine.begin() as connection:
        connection.execute(NOTES.insert(), [{"id": key, "label": "old", "count": 0, "seen_at": when}
                                            for key in range(1, len(HOSTILE) + 2)])
    statement = rows_statement(_set_note, engine.dialect, NAMES)
    assert isinstance(statement, ArrayStatement) == (engine.dialect.name == "postgresql")
    rows = [(None if key == 5 else label, key * 10, None if key % 3 == 0 else when, key)
            for key, label in enumerate(HOSTILE, 1)]
    with engine.begin() as connection, driver_cursor(connection) as cursor:
        changed = statement.execute_on(cursor, statement.convert(rows))
        assert statement.execute_on(cursor, statement.convert([])) == 0
    assert changed == len(HOSTILE)
    with engine.connect() as connection:
        got = connection.execute(sa.select(NOTES.c.label, NOTES.c.count, NOTES.c.seen_at, NOTES.c.id)
                                 .order_by(NOTES.c.id)).all()
    assert [tuple(row) for row in got] == [*rows, ("old", 0, when, len(HOSTILE) + 1)]


def test_a_row_that_matches_nothing_changes_nothing(engine):
    with engine.begin() as connection:
        connection.execute(NOTES.insert(), [{"id": 1, "label": "kept", "count": 1, "seen_at": None}])
    statement = rows_statement(_set_note, engine.dialect, NAMES)
    with engine.begin() as connection, driver_cursor(connection) as cursor:
        assert statement.execute_on(cursor, statement.convert([("new", 2, None, 99)])) == 0
    with engine.connect() as connection:
        assert connection.execute(sa.select(NOTES.c.label)).scalar_one() == "kept"
