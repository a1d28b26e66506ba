"""What happens to a subscriber (delivery/effects.py, docs/outcomes.md): one test a row of the
cause table, no sockets; and `apply` on a real SQLite file: one event, about the issue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gbaletter.config import BouncesSettings
from gbaletter.db import open_database
from gbaletter.delivery import effects
from gbaletter.delivery.effects import RULES, Cause, change, soft_bounce_count, soft_bounce_rule
from gbaletter.feedback.models import Kind
from gbaletter.feedback.process import CAUSES
from gbaletter.subscribers.models import Status
from gbaletter.subscribers.service import add_subscriber, is_suppressed, subscriber_history

SETTINGS = BouncesSettings(soft_bounce_limit=3, soft_bounce_issues=5)
DOCS = Path(__file__).resolve().parents[1] / "docs"
UNSUBSCRIBES = (Cause.ONE_CLICK, Cause.UNSUBSCRIBE_PAGE, Cause.UNSUBSCRIBE_MAIL)


@pytest.mark.parametrize(("cause", "current", "expected"), [
    (Cause.HARD_BOUNCE, Status.ACTIVE, Status.BOUNCED),
    (Cause.HARD_BOUNCE, Status.UNCONFIRMED, Status.BOUNCED),
    (Cause.HARD_BOUNCE, Status.UNSUBSCRIBED, None),
    (Cause.SOFT_BOUNCES, Status.ACTIVE, Status.BOUNCED),
    (Cause.SOFT_BOUNCES, Status.COMPLAINED, None),
    (Cause.COMPLAINT, Status.ACTIVE, Status.COMPLAINED),
    (Cause.COMPLAINT, Status.UNSUBSCRIBED, Status.COMPLAINED),
    (Cause.COMPLAINT, Status.BOUNCED, Status.COMPLAINED),
    (Cause.COMPLAINT, Status.COMPLAINED, None),
    *[(cause, Status.ACTIVE, Status.UNSUBSCRIBED) for cause in UNSUBSCRIBES],
    *[(cause, Status.BOUNCED, None) for cause in UNSUBSCRIBES],
    (Cause.BOUNCE_UNDONE, Status.BOUNCED, Status.ACTIVE),
    (Cause.BOUNCE_UNDONE, Status.UNSUBSCRIBED, None),  # the breaker never undoes someone's own no
    (Cause.BOUNCE_UNDONE, Status.COMPLAINED, None),
])
def test_each_cause_does_what_the_table_says(cause, current, expected):
    assert change(cause, current) == expected


@pytest.mark.parametrize("current", [Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED])
def test_a_suppressed_subscriber_keeps_the_status_that_suppressed_it(current):
    for cause in (Cause.HARD_BOUNCE, Cause.SOFT_BOUNCES, *UNSUBSCRIBES):
        assert change(cause, current) is None


def test_soft_bounces_count_per_issue_among_the_last_issues_and_bounce_at_the_limit():
    recent = ["W31", "W30", "W29", "W28", "W27", "W26"]  # newest first
    assert soft_bounce_count({"W31", "W30", "W26"}, recent, SETTINGS) == 2  # W26 is the sixth
    assert soft_bounce_rule(2, SETTINGS) is None
    assert soft_bounce_rule(3, SETTINGS) == "soft-bounces: 3 of the last 5 issues"
    assert soft_bounce_rule(1, BouncesSettings(soft_bounce_limit=1)) is not None


def test_a_report_kind_is_a_cause_only_for_what_changes_a_subscriber():
    assert CAUSES == {Kind.HARD_BOUNCE: Cause.HARD_BOUNCE, Kind.SOFT_BOUNCE: Cause.SOFT_BOUNCES,
                      Kind.COMPLAINT: Cause.COMPLAINT, Kind.UNSUBSCRIBE: Cause.UNSUBSCRIBE_MAIL}


def test_the_docs_table_lists_every_cause_with_its_status():
    text = (DOCS / "outcomes.md").read_text(encoding="utf-8").split("## What happens to a subscriber")[1]
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| ([a-z]+) \|", text.split("\n## ")[0], re.MULTILINE))
    assert rows == {cause.value: rule.becomes.value for cause, rule in RULES.items()}


def test_the_bounce_docs_table_lists_every_kind():
    text = (DOCS / "bounces.md").read_text(encoding="utf-8").split("## What a message is")[1].split("\n## ")[0]
    assert set(re.findall(r"^\| `(\w+)` \|", text, re.MULTILINE)) == {kind.value for kind in Kind}


def test_apply_records_one_event_about_the_issue_and_undoing_a_bounce_lifts_its_suppression(workspace):
    db = open_database(workspace)
    with db.session() as session:
        subscriber = add_subscriber(session, "mei@harbour.example.net")
        assert effects.apply(session, subscriber, Cause.HARD_BOUNCE, actor=effects.SENDER_ACTOR,
                             issue_id="2019-W26", reason="550 5.1.1 user unknown (issue 2019-W26)")
        assert not effects.apply(session, subscriber, Cause.ONE_CLICK, actor=effects.web_actor(Cause.ONE_CLICK),
                                 issue_id="2019-W26", reason="one-click unsubscribe from issue 2019-W26")
        assert is_suppressed(session, subscriber.email)
        assert effects.apply(session, subscriber, Cause.BOUNCE_UNDONE, actor=effects.SENDER_ACTOR,
                             issue_id="2019-W26", reason="bounce undone")
    with db.reader() as session:
        history = subscriber_history(session, "mei@harbour.example.net")
        assert [(e.new_status, e.actor, e.issue_id) for e in history.events] == [
            (Status.BOUNCED, "sender", "2019-W26"), (Status.ACTIVE, "sender", "2019-W26")]
        assert history.suppression is None
