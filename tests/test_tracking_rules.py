"""The rules that tell people from machines (docs/tracking.md), as pure functions: no sockets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from support.workspace import REPO

from gbaletter.tracking.rules import (APPLE_MPP, HUMAN, MACHINE_RULES, MPP_FLAG, Hit, agent_class,
                                      classify_clicks, classify_open)

SENT = datetime(2019, 6, 30, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return SENT + timedelta(seconds=seconds)


@pytest.mark.parametrize("user_agent, expected", [
    ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", ""),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", ""),
    ("Mozilla/5.0", APPLE_MPP),
    ("", "none"),
    ("Mozilla/5.0 (compatible; Mimecast URL Protect)", "mimecast"),
    ("Proofpoint URL Defense", "proofpoint"),
    ("Mozilla/5.0 (Windows NT 10.0) HeadlessChrome/120.0", "headless"),
    ("python-requests/2.31", "script"),
    ("Googlebot/2.1", "bot"),
])
def test_agent_class(user_agent, expected):
    assert agent_class(user_agent) == expected


def test_a_person_reading_two_stories_is_human():
    hits = [Hit(at(600), "a"), Hit(at(640), "b"), Hit(at(641), "a")]
    assert classify_clicks(hits, SENT) == [HUMAN] * 3


def test_each_machine_rule_in_order():
    hits = [Hit(at(600), "a", method="HEAD"),          # head, whatever else
            Hit(at(700), "b", agent="mimecast"),       # agent
            Hit(at(3), "c"),                           # too soon after delivery
            Hit(at(900), "d"), Hit(at(900.5), "e"), Hit(at(901.9), "f")]  # three links in 2 s
    assert classify_clicks(hits, SENT) == ["head", "agent", "too-soon", "burst", "burst", "burst"]
    assert [reason for reason, _ in MACHINE_RULES] == ["head", "agent", "too-soon", "burst"]


def test_a_burst_needs_three_different_links_within_two_seconds():
    same_link = [Hit(at(900 + n * 0.1), "a") for n in range(5)]  # a person double-clicking
    assert classify_clicks(same_link, SENT) == [HUMAN] * 5
    spread = [Hit(at(900), "a"), Hit(at(901.5), "b"), Hit(at(903.6), "c")]
    assert classify_clicks(spread, SENT) == [HUMAN] * 3


def test_without_a_delivery_time_the_too_soon_rule_is_skipped():
    assert classify_clicks([Hit(at(1), "a")], None) == [HUMAN]


def test_opens():
    assert classify_open(Hit(at(5), "")) == HUMAN
    assert classify_open(Hit(at(5), "", agent=APPLE_MPP)) == MPP_FLAG
    assert classify_open(Hit(at(5), "", method="HEAD")) == "head"
    assert classify_open(Hit(at(5), "", agent="proofpoint")) == "agent"


def test_the_docs_table_lists_the_rules_in_order():
    text = (REPO / "docs" / "tracking.md").read_text()
    table = text.split("## People and machines", 1)[1].split("\n\n## ", 1)[0]
    documented = [line.split("|")[1].strip().strip("`") for line in table.splitlines()
                  if line.startswith("| `")]
    assert documented == [reason for reason, _ in MACHINE_RULES]
