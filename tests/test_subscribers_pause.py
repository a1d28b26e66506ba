"""Pauses and address changes by hand (`subscribers pause`, `resume`, `change-address`), and what
the next send does with them: a real send to the test SMTP server."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from gbaletter.db import utcnow
from gbaletter.subscribers.models import Status, Subscriber
from gbaletter.subscribers.segments import segment_filter
from gbaletter.subscribers.service import find_subscriber, remove_subscriber, set_status
from support.sending import TECH_READERS, newsletter, send  # noqa: F401 (the fixture)
from support.subscriber_helpers import ok


def _subscriber(db, email):
    with db.reader() as session:
        subscriber = find_subscriber(session, email)
        if subscriber is not None:
            _ = (subscriber.tags, subscriber.events)
        return subscriber


def test_a_paused_subscriber_is_skipped_until_the_pause_ends(newsletter, run_cli):  # noqa: F811
    root, db, handler = newsletter
    assert ok(run_cli(root, "subscribers", "pause", "chan@example.com", "--weeks", "4")).startswith(
        "paused until ")
    ok(run_cli(root, "subscribers", "pause", "ann@example.com", "--until", "2099-01-31"))
    shown = json.loads(ok(run_cli(root, "subscribers", "show", "chan@example.com", "--json")))
    assert shown["subscriber"]["paused_until"] and shown["subscriber"]["status"] == "active"
    assert shown["events"][-1]["reason"].startswith("paused until ")
    assert "paused      until" in ok(run_cli(root, "subscribers", "show", "chan@example.com"))
    assert "changed" in ok(run_cli(root, "subscribers", "show", "chan@example.com"))
    assert send(run_cli, root).exit_code == 0
    rcpts = {r.rcpt for r in handler.received}
    assert len(rcpts) == TECH_READERS - 2 and not {"chan@example.com", "ann@example.com"} & rcpts
    # resumed by hand, and a pause that has ended by itself: both are mailable again (the
    # journal of this issue was frozen when it was sent; the next issue's send selects them)
    assert ok(run_cli(root, "subscribers", "resume", "chan@example.com")) == "resumed\n"
    assert ok(run_cli(root, "subscribers", "resume", "chan@example.com")) == "it was not paused\n"
    with db.session() as session:
        find_subscriber(session, "ann@example.com").paused_until = utcnow() - timedelta(seconds=1)
    with db.reader() as session:
        mailable = set(session.scalars(select(Subscriber.email).where(
            Subscriber.id.in_(segment_filter(session, "tag:technology")))))
    assert len(mailable) == TECH_READERS and {"chan@example.com", "ann@example.com"} <= mailable


def test_a_pause_must_end_in_the_future(newsletter, run_cli):  # noqa: F811
    root, _db, _ = newsletter
    result = run_cli(root, "subscribers", "pause", "chan@example.com", "--until", "2001-01-01")
    assert result.exit_code != 0 and "error: a pause must end in the future" in result.stderr


def test_change_address_keeps_the_history(newsletter, run_cli):  # noqa: F811
    root, db, _ = newsletter
    ok(run_cli(root, "subscribers", "pause", "bob@example.com"))
    assert ok(run_cli(root, "subscribers", "change-address", "bob@example.com", " Robert@Example.NET ")) == (
        "changed: Robert@example.net (the history stays with it)\n")
    assert _subscriber(db, "bob@example.com") is None
    moved = _subscriber(db, "robert@example.net")
    assert moved.tag_names == ["finance", "technology"] and moved.status is Status.ACTIVE
    assert [e.reason for e in moved.events][-1] == (
        "address changed from bob@example.com to Robert@example.net")
    assert moved.paused_until is not None


def test_change_address_refuses_a_subscriber_or_a_suppressed_address(newsletter, run_cli):  # noqa: F811
    root, db, _ = newsletter
    with db.session() as session:
        set_status(session, "other@example.com", Status.BOUNCED, actor="test")
    for target, problem in (("ann@example.com", "is already on the list"),
                            ("other@example.com", "is already on the list"),
                            ("not an address", "invalid address")):
        result = run_cli(root, "subscribers", "change-address", "bob@example.com", target)
        assert result.exit_code != 0 and problem in result.stderr, result.stderr
    with db.session() as session:  # removed from the list, but still suppressed
        remove_subscriber(session, "other@example.com", actor="test")
    result = run_cli(root, "subscribers", "change-address", "bob@example.com", "other@example.com")
    assert result.exit_code != 0 and "is suppressed" in result.stderr
    assert _subscriber(db, "bob@example.com").email == "bob@example.com"
