"""The library API the sender builds on: segment_filter, set_status, is_suppressed, streaming."""

from __future__ import annotations

import pytest

from support.subscriber_helpers import open_db

from gbaletter.errors import GbaletterError
from gbaletter.subscribers.addresses import email_hash
from gbaletter.subscribers.models import Status, Suppression
from gbaletter.subscribers.segments import (count_members, save_segment, segment_filter,
                                            stream_members)
from gbaletter.subscribers.service import (add_subscriber, find_subscriber, is_suppressed,
                                           remove_subscriber, resubscribe, set_status,
                                           subscriber_history)


@pytest.fixture
def db(workspace_dir):
    database = open_db(workspace_dir)
    with database.session() as session:
        for n in range(5):
            add_subscriber(session, f"reader{n}@example.org", name=f"Reader {n}",
                           tags=["technology"] + (["finance"] if n % 2 else []),
                           attributes={"lang": "en"})
        save_segment(session, "tech", "tag:technology")
    return database


def _emails(session, ids) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.email for m in stream_members(session, ids)]


def test_a_bounce_recorded_by_the_sender(db):
    with db.session() as session:
        assert set_status(session, "Reader1@example.org", Status.BOUNCED, actor="sender",
                          reason="550 reply to issue 2019-W26")
        assert not set_status(session, "reader1@example.org", Status.BOUNCED, actor="sender")
    with db.reader() as session:
        assert is_suppressed(session, "READER1@example.org")
        assert not is_suppressed(session, "reader2@example.org")
        assert "reader1@example.org" not in _emails(session, segment_filter(session, "tech"))
        history = subscriber_history(session, "reader1@example.org")
    (event,) = history.events
    assert (event.actor, event.old_status, event.new_status, event.reason) == \
        ("sender", Status.ACTIVE, Status.BOUNCED, "550 reply to issue 2019-W26")
    assert history.joined_as == Status.ACTIVE
    assert history.suppression.reason == "bounced"


def test_a_suppressed_address_is_only_made_active_by_resubscribe(db):
    with db.session() as session:
        set_status(session, "reader0@example.org", Status.UNSUBSCRIBED, actor="sender",
                   reason="one-click unsubscribe from issue 2019-W26")
    with db.session() as session, pytest.raises(GbaletterError) as error:
        set_status(session, "reader0@example.org", Status.ACTIVE, actor="test")
    assert str(error.value) == ("reader0@example.org is suppressed (unsubscribed); only "
                                "`subscribers resubscribe` can make it active again")
    with db.session() as session:
        assert resubscribe(session, "reader0@example.org", actor="admin", reason="asked again")
    with db.reader() as session:
        assert not is_suppressed(session, "reader0@example.org")
        assert find_subscriber(session, "reader0@example.org").status == Status.ACTIVE


def test_segment_filter_never_selects_a_suppressed_address(db):
    with db.session() as session:  # suppressed, yet still active: e.g. a hand-edited database
        session.add(Suppression(email_hash=email_hash("reader3@example.org"), reason="complained",
                                detail="", created_at=find_subscriber(
                                    session, "reader3@example.org").created_at))
    with db.reader() as session:
        assert "reader3@example.org" not in _emails(session, segment_filter(session, "tech"))
        assert "reader3@example.org" in _emails(
            session, segment_filter(session, "tech", include_suppressed=True))
        assert count_members(session, segment_filter(session, "all")) == 4


def test_segment_filter_takes_a_name_or_an_expression(db):
    with db.reader() as session:
        by_name = _emails(session, segment_filter(session, "tech"))
        by_expression = _emails(session, segment_filter(session, "tag:finance"))
    assert by_name == [f"reader{n}@example.org" for n in range(5)]
    assert by_expression == ["reader1@example.org", "reader3@example.org"]


def test_stream_members_in_chunks(db):
    with db.reader() as session:
        streamed = list(stream_members(session, segment_filter(session, "tech"), chunk_size=2))
        bare = list(stream_members(session, None, with_tags=False, limit=3))
    assert [m.email for m in streamed] == [f"reader{n}@example.org" for n in range(5)]
    assert streamed[1].tags == ("finance", "technology")
    assert streamed[1].attributes == {"lang": "en"}
    assert [m.tags for m in bare] == [(), (), ()]


def _checkpoint(db) -> None:  # type: ignore[no-untyped-def]
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.mark.sqlite_only
def test_remove_leaves_only_a_hash_in_the_files(db, workspace_dir):
    _checkpoint(db)  # the rows are in the database file itself, not only in the WAL
    with db.erasing() as session:
        remove_subscriber(session, "reader4@example.org", actor="admin", reason="GDPR request")
    with db.reader() as session:
        assert find_subscriber(session, "reader4@example.org") is None
        assert is_suppressed(session, "reader4@example.org")
    for path in (workspace_dir / "subscribers").iterdir():
        assert b"reader4" not in path.read_bytes(), path.name
        assert b"reader3" in path.read_bytes() or path.suffix != ".db"
