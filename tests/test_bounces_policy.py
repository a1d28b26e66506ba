"""The bounce policy (feedback/policy.py, docs/bounces.md): one test per row, no sockets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gbaletter.config import BouncesSettings
from gbaletter.feedback.models import Kind
from gbaletter.feedback.policy import judge
from gbaletter.subscribers.models import Status

SETTINGS = BouncesSettings(soft_bounce_limit=3, soft_bounce_issues=5)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "bounces.md"


@pytest.mark.parametrize(("kind", "current", "soft", "expected"), [
    (Kind.HARD_BOUNCE, Status.ACTIVE, 0, Status.BOUNCED),
    (Kind.HARD_BOUNCE, Status.UNCONFIRMED, 0, Status.BOUNCED),
    (Kind.SOFT_BOUNCE, Status.ACTIVE, 2, None),
    (Kind.SOFT_BOUNCE, Status.ACTIVE, 3, Status.BOUNCED),
    (Kind.COMPLAINT, Status.ACTIVE, 0, Status.COMPLAINED),
    (Kind.COMPLAINT, Status.UNSUBSCRIBED, 0, Status.COMPLAINED),
    (Kind.UNSUBSCRIBE, Status.ACTIVE, 0, Status.UNSUBSCRIBED),
    (Kind.SENDER_PROBLEM, Status.ACTIVE, 0, None),
    (Kind.DELAYED, Status.ACTIVE, 0, None),
    (Kind.DELIVERED, Status.ACTIVE, 0, None),
    (Kind.AUTO_REPLY, Status.ACTIVE, 0, None),
])
def test_each_kind_does_what_the_table_says(kind, current, soft, expected):
    assert judge(kind, current, soft, SETTINGS).status == expected


@pytest.mark.parametrize("current", [Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED])
def test_a_suppressed_subscriber_keeps_the_status_that_suppressed_it(current):
    assert judge(Kind.HARD_BOUNCE, current, 0, SETTINGS).status is None
    assert judge(Kind.SOFT_BOUNCE, current, 5, SETTINGS).status is None
    assert judge(Kind.UNSUBSCRIBE, current, 0, SETTINGS).status is None


def test_the_limit_is_configurable():
    assert judge(Kind.SOFT_BOUNCE, Status.ACTIVE, 1, BouncesSettings(soft_bounce_limit=1)).status == Status.BOUNCED


def test_the_docs_table_lists_every_kind():
    text = DOCS.read_text(encoding="utf-8").split("## What a message is")[1].split("\n## ")[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", text, re.MULTILINE))
    assert documented == {kind.value for kind in Kind}
