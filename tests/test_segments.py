"""The segment language: what each expression selects, and errors that point at the column."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from support.subscriber_helpers import open_db

from gbaletter.errors import GbaletterError
from gbaletter.subscribers.models import Status
from gbaletter.subscribers.segments import segment_filter, stream_members
from gbaletter.subscribers.service import add_subscriber

HK = ZoneInfo("Asia/Hong_Kong")
PEOPLE = [
    # email, tags, attributes, status, joined (Hong Kong time)
    ("alice@gmail.com", ["technology"], {"lang": "en", "city": "Hong Kong"}, Status.ACTIVE,
     "2019-05-31 23:30"),
    ("bob@example.com", ["technology", "finance"], {"lang": "en"}, Status.ACTIVE, "2019-06-01 00:30"),
    ("chen@qq.com", ["finance"], {"lang": "zh", "city": "Shenzhen"}, Status.ACTIVE, "2019-06-15 12:00"),
    ("dora@gmail.com", [], {}, Status.ACTIVE, "2019-06-02 09:00"),
    ("eve@example.com", ["technology"], {"lang": "en"}, Status.UNCONFIRMED, "2019-06-03 09:00"),
    ("fay@example.com", ["technology"], {"lang": "en"}, Status.UNSUBSCRIBED, "2019-06-04 09:00"),
    ("gus@example.org", ["5g"], {"lang": "zh", "city": "Guangzhou", "company": {"name": "Pearl"}},
     Status.ACTIVE, "2019-06-05 09:00"),
    ("hal@example.com", [], {"age": 30}, Status.ACTIVE, "2019-07-01 09:00"),
]


@pytest.fixture
def db(workspace_dir):
    database = open_db(workspace_dir)
    with database.session() as session:
        for email, tags, attributes, status, joined in PEOPLE:
            when = datetime.strptime(joined, "%Y-%m-%d %H:%M").replace(tzinfo=HK)
            add_subscriber(session, email, name=email.split("@")[0].title(), tags=tags,
                           attributes=attributes, status=status, when=when)
    return database


def members(db, expression: str, **options) -> list[str]:  # type: ignore[no-untyped-def]
    with db.reader() as session:
        ids = segment_filter(session, expression, **options)
        return [m.email.split("@")[0] for m in stream_members(session, ids, with_tags=False)]


@pytest.mark.parametrize("expression, expected", [
    ('tag:technology and not tag:finance and attr.lang = "en"', ["alice"]),
    ('attr.lang = "zh" or attr.city in ("Shenzhen", "Guangzhou")', ["chen", "gus"]),
    ("domain:gmail.com", ["alice", "dora"]),
    ("domain = GMAIL.COM", ["alice", "dora"]),
    ("domain in (qq.com, example.org)", ["chen", "gus"]),
    ("domain != gmail.com", ["bob", "chen", "gus", "hal"]),
    ("joined >= 2019-06-01", ["bob", "chen", "dora", "gus", "hal"]),
    ("joined < 2019-06-01", ["alice"]),
    ("joined = 2019-06-01", ["bob"]),
    ("joined > 2019-06-15", ["hal"]),
    ("joined <= 2019-06-02", ["alice", "bob", "dora"]),
    ("joined != 2019-06-01", ["alice", "chen", "dora", "gus", "hal"]),
    ("status:unconfirmed", ["eve"]),
    ("status in (active, unconfirmed) and tag:technology", ["alice", "bob", "eve"]),
    ('not attr.lang = "en"', ["chen", "dora", "gus", "hal"]),
    ('attr.lang != "en"', ["chen", "dora", "gus", "hal"]),
    ('attr.lang not in (en, zh)', ["dora", "hal"]),
    ("attr.company.name = Pearl", ["gus"]),
    ("attr.age = 30", ["hal"]),
    ("attr.city >= S", ["chen"]),
    ("not (tag:technology or tag:finance)", ["dora", "gus", "hal"]),
    ("TAG:Technology AND NOT tag:FINANCE", ["alice"]),
    ("name = Alice or name in ('Bob', \"Chen\")", ["alice", "bob", "chen"]),
    ("all", ["alice", "bob", "chen", "dora", "gus", "hal"]),
    ("tag:nobody-has-this", []),
    ("not tag:nobody-has-this and domain:gmail.com", ["alice", "dora"]),
])
def test_expressions(db, expression, expected):
    assert members(db, expression) == expected


def test_a_segment_means_active_subscribers_unless_it_names_a_status(db):
    assert members(db, "tag:technology") == ["alice", "bob"]
    assert members(db, "status:unsubscribed") == []  # what may be mailed: never a suppressed one
    assert members(db, "status:unsubscribed", include_suppressed=True) == ["fay"]
    assert members(db, "tag:technology and not status:active", include_suppressed=True) == \
        ["eve", "fay"]


@pytest.mark.parametrize("expression, message", [
    ("tag technology", "column 5: expected ':' after 'tag' (tag:NAME), found 'technology'"),
    ("tag:", "column 5: expected a value after 'tag:', found the end of the expression"),
    ('atr.lang = "en"', "column 1: unknown field 'atr.lang' (fields: tag, domain, status, language, name, "
                        "joined, attr.KEY)"),
    ("tag:a and (tag:b or tag:c", "column 26: expected ')' to close the '(' at column 11, found "
                                  "the end of the expression"),
    ("tag:a tag:b", "column 7: expected 'and', 'or' or the end, found 'tag'"),
    ("tag:a or", "column 9: expected a condition such as tag:NAME, found the end of the expression"),
    ("status:gone", "column 8: unknown status 'gone' (statuses: unconfirmed, active, unsubscribed, "
                    "bounced, complained)"),
    ("joined >= last-week", "column 11: expected a date YYYY-MM-DD after '>=', found 'last-week'"),
    ('name = "Mei', "column 8: unterminated string, missing closing \""),
    ("tag:a; DROP TABLE subscribers", "column 6: unexpected character ';'"),
    ("attr.lang ~ en", "column 11: unexpected character '~'"),
    ("attr.lang", "column 10: expected one of = != < <= > >= in after 'attr.lang', found the end "
                  "of the expression"),
    ("name in (a, )", "column 13: expected a value after ',', found ')'"),
    ("domain > a", "column 1: 'domain' compares with = != in or domain:NAME"),
    ("  ", "empty segment expression (write `all` for everyone)"),
])
def test_errors_point_at_the_column(db, expression, message):
    with db.reader() as session, pytest.raises(GbaletterError) as error:
        segment_filter(session, expression)
    assert str(error.value) == f"segment: {message} in: {expression}"
    assert "\n" not in str(error.value)


def _domains(count: int) -> str:
    return "domain in (" + ", ".join(f"d{n}.example.com" for n in range(count)) + ")"


@pytest.mark.parametrize("expression, message", [
    ("(" * 900 + "all" + ")" * 900, "column 21: more than 20 parentheses and 'not's inside one another"),
    ("not " * 900 + "all", "column 81: more than 20 parentheses and 'not's inside one another"),
    (" or ".join(["tag:x"] * 600), "column 2701: more than 300 conditions (a value in a list counts as "
                                   "one); give these people a tag instead (subscribers tag, or "
                                   "import with --tag)"),
    (_domains(999), "column 3502: more than 200 values in one list"),
    ("joined > 9999-12-31", "column 10: 'joined' takes a date from 1900-01-01 to 9998-12-31, found '9999-12-31'"),
    ("joined < 0001-01-01", "column 10: 'joined' takes a date from 1900-01-01 to 9998-12-31, found '0001-01-01'"),
])
def test_limits_are_one_line(db, expression, message):
    """Hostile expressions (issue 23 #7) used to end in RecursionError, SQLite's 'Expression tree
    is too large' or an OverflowError; now the parser stops them at the column."""
    with pytest.raises(GbaletterError) as error:
        members(db, expression)
    assert str(error.value).startswith(f"segment: {message} in: ")
    assert "\n" not in str(error.value) and len(str(error.value)) < 300


@pytest.mark.parametrize("expression", [
    "(" * 20 + "tag:technology" + ")" * 20, "not " * 20 + "tag:technology",
    " or ".join([_domains(200), _domains(99), "tag:x"]), " and ".join(["not tag:x"] * 300),
    " or ".join(['attr.lang in ("en", "zh")'] * 150),
    "joined > 1900-01-01 and joined < 9998-12-31"])
def test_expressions_at_the_limits_run(db, expression):
    members(db, expression)
