"""The outcome table (delivery/outcome.py), one test a rule, no sockets; and the circuit breaker."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gbaletter.delivery import outcome
from gbaletter.delivery.effects import ROW_CAUSES, change
from gbaletter.delivery.models import State
from gbaletter.delivery.outcome import (Breaker, Decision, Failure, Reply, Stage, Trip, Verdict, decide,
                                        reply_key, status_reply)
from gbaletter.subscribers.models import Status

DOCS = Path(__file__).resolve().parents[1] / "docs" / "outcomes.md"

# (rule, stage, reply, verdict): every rule of the table at least once, with the replies a desk meets
CASES = [
    ("delivered", Stage.FINAL, Reply(250, "2.0.0 Ok: queued as 4F1A2B"), Verdict.DELIVERED),
    ("delivered", Stage.DSN, status_reply("2.0.0", "delivered to mailbox"), Verdict.DELIVERED),
    ("lost-after-dot", Stage.FINAL, Reply(failure=Failure.RESET, text="connection lost"), Verdict.UNCERTAIN),
    ("lost-after-dot", Stage.FINAL, Reply(failure=Failure.TIMEOUT), Verdict.UNCERTAIN),
    ("tls-untrusted", Stage.TLS, Reply(failure=Failure.TLS_UNTRUSTED, text="self-signed"), Verdict.FATAL),
    ("auth-refused", Stage.AUTH, Reply(535, "5.7.8 Error: authentication failed"), Verdict.FATAL),
    ("connection-trouble", Stage.CONNECT, Reply(failure=Failure.RESET, text="refused"), Verdict.TEMPORARY),
    ("connection-trouble", Stage.RCPT, Reply(failure=Failure.RESET), Verdict.TEMPORARY),
    ("connection-trouble", Stage.DATA, Reply(failure=Failure.TIMEOUT), Verdict.TEMPORARY),
    ("server-refuses-us", Stage.GREETING, Reply(554, "5.7.1 no SMTP service here"), Verdict.FATAL),
    ("sender-refused", Stage.MAIL, Reply(553, "5.7.1 sender not allowed"), Verdict.FATAL),
    ("sender-address", Stage.RCPT, Reply(550, "5.1.7 bad sender mailbox syntax"), Verdict.SENDER_PROBLEM),
    ("sender-address", Stage.DSN, status_reply("5.1.8", "sender domain has no MX"), Verdict.SENDER_PROBLEM),
    ("bad-address", Stage.RCPT, Reply(550, "5.1.1 <a@example.org>: Recipient address rejected: User unknown"),
     Verdict.HARD_BOUNCE),
    ("bad-address", Stage.RCPT, Reply(550, "5.1.2 bad destination system address"), Verdict.HARD_BOUNCE),
    ("bad-address", Stage.RCPT, Reply(553, "5.1.3 bad destination mailbox address syntax"), Verdict.HARD_BOUNCE),
    ("bad-address", Stage.DSN, status_reply("5.1.10", "recipient address has null MX"), Verdict.HARD_BOUNCE),
    ("mailbox-disabled", Stage.RCPT, Reply(550, "5.2.1 mailbox disabled, not accepting messages"),
     Verdict.HARD_BOUNCE),
    ("mailbox-full", Stage.RCPT, Reply(552, "5.2.2 mailbox full"), Verdict.TEMPORARY),
    ("mailbox-full", Stage.DSN, status_reply("5.2.2", "over quota"), Verdict.TEMPORARY),
    ("message-too-big", Stage.FINAL, Reply(552, "5.2.3 message length exceeds administrative limit"),
     Verdict.SENDER_PROBLEM),
    ("mailbox-status", Stage.RCPT, Reply(550, "5.2.0 other mailbox status"), Verdict.TEMPORARY),
    ("our-problem", Stage.RCPT, Reply(554, "5.7.1 <a@example.org>: Relay access denied"), Verdict.SENDER_PROBLEM),
    ("our-problem", Stage.RCPT, Reply(500, "5.3.0 Error: command failed"), Verdict.SENDER_PROBLEM),
    ("our-problem", Stage.RCPT, Reply(550, "5.7.515 Access denied, sending domain does not meet the "
                                      "required authentication level"), Verdict.SENDER_PROBLEM),
    ("our-problem", Stage.RCPT, Reply(530, "5.7.0 Authentication required"), Verdict.SENDER_PROBLEM),
    ("our-problem", Stage.RCPT, Reply(554, "5.4.4 unable to route"), Verdict.SENDER_PROBLEM),
    ("our-problem", Stage.DATA, Reply(554, "5.5.1 no valid recipients"), Verdict.SENDER_PROBLEM),
    ("our-problem", Stage.FINAL, Reply(554, "5.6.0 message content rejected"), Verdict.SENDER_PROBLEM),
    ("our-problem", Stage.DSN, status_reply("5.7.1", "DMARC policy reject"), Verdict.SENDER_PROBLEM),
    ("undefined-status", Stage.DSN, status_reply("5.0.0", "recipient reached disk quota"), Verdict.TEMPORARY),
    ("undefined-status", Stage.DSN, status_reply("5.9.1", "unknown subject"), Verdict.TEMPORARY),
    ("temporary", Stage.RCPT, Reply(451, "4.3.0 try again later"), Verdict.TEMPORARY),
    ("temporary", Stage.RCPT, Reply(450, "4.2.0 greylisted"), Verdict.TEMPORARY),
    ("temporary", Stage.FINAL, Reply(421, "4.4.2 too many connections"), Verdict.TEMPORARY),
    ("temporary", Stage.MAIL, Reply(452, "insufficient system storage"), Verdict.TEMPORARY),
    ("temporary", Stage.GREETING, Reply(421, "service not available"), Verdict.TEMPORARY),
    ("temporary", Stage.DSN, status_reply("4.4.7", "delivery time expired, still trying"), Verdict.TEMPORARY),
    ("bare-no-mailbox", Stage.RCPT, Reply(550, "No such user here"), Verdict.HARD_BOUNCE),
    ("bare-no-mailbox", Stage.RCPT, Reply(551, "User not local"), Verdict.HARD_BOUNCE),
    ("bare-no-mailbox", Stage.RCPT, Reply(553, "mailbox name not allowed"), Verdict.HARD_BOUNCE),
    ("bare-permanent", Stage.RCPT, Reply(554, "Transaction failed"), Verdict.SENDER_PROBLEM),
    ("bare-permanent", Stage.RCPT, Reply(500, "Error: command failed"), Verdict.SENDER_PROBLEM),
    ("bare-permanent", Stage.FINAL, Reply(550, "Message rejected as spam"), Verdict.SENDER_PROBLEM),
    ("bare-permanent", Stage.RCPT, Reply(550, "5.0.0 rejected"), Verdict.SENDER_PROBLEM),
    ("unknown", Stage.RCPT, Reply(354, "unexpected"), Verdict.TEMPORARY),
    ("unknown", Stage.DSN, Reply(failure=Failure.RESET), Verdict.TEMPORARY),
]


@pytest.mark.parametrize(("rule", "stage", "reply", "verdict"), CASES,
                         ids=[f"{c[0]}-{c[1].value}-{c[2]}"[:70] for c in CASES])
def test_rule(rule, stage, reply, verdict):
    assert decide(stage, reply) == Decision(verdict, rule)


def _documented_rules() -> list[str]:
    """The rule names of the table in docs/outcomes.md (first column of its first table)."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## The outcome table", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.M)


def test_every_rule_is_documented_and_tested():
    assert _documented_rules() == list(outcome.RULES)  # the same rules, in the order they apply
    assert {case[0] for case in CASES} == set(outcome.RULES)


def test_every_verdict_has_an_effect_and_the_effects_are_documented():
    text = DOCS.read_text(encoding="utf-8")
    for verdict in Verdict:
        effect = verdict.effect
        assert f"| `{verdict.value}` | `{effect.state.value}` |" in text
    # what a verdict does to its subscriber goes through the row's state (delivery/effects.py)
    assert change(ROW_CAUSES[Verdict.HARD_BOUNCE.effect.state], Status.ACTIVE) is Status.BOUNCED
    assert all(v.effect.state not in ROW_CAUSES for v in Verdict if v is not Verdict.HARD_BOUNCE)
    assert Verdict.SENDER_PROBLEM.effect.state is State.QUEUED and not Verdict.SENDER_PROBLEM.effect.retry
    assert Verdict.UNCERTAIN.effect.state is State.UNCERTAIN and not Verdict.UNCERTAIN.effect.retry


def test_every_state_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    for state in State:
        assert f"| `{state.value}` |" in text


@pytest.mark.parametrize(("code", "text", "enhanced"), [
    (550, "5.1.1 user unknown", "5.1.1"),
    (550, "  5.1.10 null MX", "5.1.10"),
    (550, "4.2.2 class disagrees with the code", ""),   # RFC 3463: ignored
    (550, "user unknown 5.1.1", ""),                      # only at the start
    (250, "2.0.0 Ok", "2.0.0"),
    (550, "5.1.1.1 not a status", ""),
])
def test_enhanced_status_is_read_from_the_start_and_must_agree_with_the_code(code, text, enhanced):
    assert Reply(code, text).enhanced == enhanced


def test_reply_key_ignores_addresses_and_queue_ids():
    one = Reply(550, "5.1.1 <ann@example.org>: Recipient address rejected: User unknown in table 4F1A2B3C")
    two = Reply(550, "5.1.1 <bob@example.com>: Recipient address rejected: User unknown in table 99AA77FF")
    assert reply_key(one) == reply_key(two)
    assert reply_key(one) != reply_key(Reply(550, "5.1.1 mailbox unavailable"))


def _feed(breaker: Breaker, replies, stage=Stage.RCPT, start=1):
    trips = []
    for row, reply in enumerate(replies, start):
        trips.append(breaker.observe(row, decide(stage, reply), reply))
    return trips


def test_breaker_stops_on_the_same_permanent_reply_in_a_row_and_lists_the_rows():
    breaker = Breaker(threshold=5)
    denied = [Reply(554, f"5.7.1 <r{n}@example.org>: Relay access denied") for n in range(7)]
    trips = _feed(breaker, denied)
    assert trips[:4] == [Trip.GO_ON] * 4 and trips[4] is Trip.STOP
    assert breaker.tripped and breaker.streak == [1, 2, 3, 4, 5, 6, 7]  # in-flight ones too


def test_breaker_streak_ends_with_a_delivery_or_another_reply():
    breaker = Breaker(threshold=3)
    unknown = Reply(550, "5.1.1 user unknown")
    ok = Reply(250, "2.0.0 queued")
    assert Trip.STOP not in _feed(breaker, [unknown, unknown])
    breaker.observe(3, decide(Stage.FINAL, ok), ok)
    assert breaker.streak == []
    _feed(breaker, [unknown, unknown], start=4)
    other = Reply(550, "5.2.1 mailbox disabled")
    assert _feed(breaker, [other], start=6) == [Trip.GO_ON] and breaker.streak == [6]
    assert not breaker.tripped


def test_breaker_backs_off_on_temporary_failures_in_a_row():
    breaker = Breaker(threshold=4)
    busy = Reply(451, "4.3.0 try later")
    assert _feed(breaker, [busy] * 4) == [Trip.GO_ON] * 3 + [Trip.BACK_OFF]
    assert _feed(breaker, [busy] * 3) == [Trip.GO_ON] * 3  # counting starts again after a pause


def test_breaker_off_with_threshold_zero():
    breaker = Breaker(threshold=0)
    assert set(_feed(breaker, [Reply(554, "5.7.1 denied")] * 50)) == {Trip.GO_ON}


def test_the_send_loops_shortcut_for_a_250_is_what_the_table_decides():
    """The send settles a final 250 without building a Reply to decide (`SendLoop._delivered`,
    `Breaker.delivered`): it must do what `decide` and `Breaker.observe` do with one, from any
    state a breaker can be in."""
    assert decide(Stage.FINAL, Reply(250, "2.0.0 Ok: queued")) is outcome.DELIVERED
    assert outcome.DELIVERED.effect.state is State.SENT and not outcome.DELIVERED.effect.retry
    permanent, temporary = Reply(550, "5.7.1 Relay access denied"), Reply(451, "4.3.0 Try later")
    histories = [[], [permanent], [permanent, permanent], [temporary, temporary], [permanent, temporary],
                 [permanent] * 3 + [temporary]]
    for history in histories:
        shortcut, table = Breaker(threshold=3), Breaker(threshold=3)
        for row, reply in enumerate(history):
            for breaker in (shortcut, table):
                breaker.observe(row, decide(Stage.RCPT, reply), reply)
        shortcut.delivered()
        assert table.observe(99, outcome.DELIVERED, Reply(250, "ok")) is Trip.GO_ON
        assert shortcut == table, history
