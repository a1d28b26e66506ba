"""What a server's reply means, decided in one place: the outcome table.

Every SMTP reply the send loop meets, and every `Status:` of a delivery status notification read
later from the bounce mailbox, goes through `decide(stage, reply)`. It returns a `Decision`: the
verdict (what the reply says happened) and the rule of the table that decided it. What the send
loop then does with each verdict (the row's state, retries, stopping) is `EFFECTS`, the second
table, so "what the MTA said" stays apart from "what to do next", as in Mailman 3. What the row's
state does to its subscriber is `effects.ROW_CAUSES`, the one table of subscriber changes. Both
tables are documented row by row in docs/outcomes.md and tested one test a row, without sockets.

The rules, first match wins, with the reason for each: docs/outcomes.md (its table lists the rules
in the order of `RULES`; tests/test_outcome.py checks both).

An enhanced status (RFC 3463) is read from the start of the reply text; one whose class (the first
digit) disagrees with the reply code is ignored, as RFC 3463 section 2 asks. A reply without an
enhanced status is decided by its code alone (rules bare-*): only the three codes that RFC 5321
defines as mailbox problems bounce a subscriber, and the circuit breaker (`Breaker`) protects the
list when a relay answers every recipient with the same one.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from .models import State


RULES = ("delivered", "lost-after-dot", "tls-untrusted", "auth-refused", "connection-trouble",
         "server-refuses-us", "sender-refused", "sender-address", "bad-address", "mailbox-disabled",
         "mailbox-full", "message-too-big", "mailbox-status", "our-problem", "undefined-status", "temporary",
         "bare-no-mailbox", "bare-permanent", "unknown")


class Stage(enum.StrEnum):
    """Where in the transaction a reply (or its absence) happened."""

    CONNECT = "connect"
    GREETING = "greeting"
    TLS = "tls"
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"      # the reply to the DATA command (354 expected)
    FINAL = "final"    # the reply after the final dot: the message itself
    DSN = "dsn"        # a Status: field of a delivery status notification, read later


class Failure(enum.StrEnum):
    """What happened instead of a reply."""

    TIMEOUT = "timeout"
    RESET = "reset"            # connection lost or closed by the server
    TLS_UNTRUSTED = "tls-untrusted"


class Verdict(enum.StrEnum):
    """What a reply says happened. `Verdict.effect` says what the send loop does about it."""

    DELIVERED = "delivered"
    HARD_BOUNCE = "hard-bounce"
    TEMPORARY = "temporary"
    SENDER_PROBLEM = "sender-problem"
    UNCERTAIN = "uncertain"
    FATAL = "fatal"

    @property
    def effect(self) -> Effect:
        return EFFECTS[self]


@dataclass(frozen=True)
class Effect:
    """What the send loop does with a verdict."""

    state: State              # what the journal row becomes (TEMPORARY: once its attempts are used up)
    retry: bool               # try the row again in this run, after a backoff
    stop: bool                # stop the whole send now (the row goes back to the queue)
    permanent: bool           # counts toward the circuit breaker's "same permanent reply" streak


# The second table: verdict -> what happens. docs/outcomes.md repeats it with the reasons.
EFFECTS: dict[Verdict, Effect] = {
    Verdict.DELIVERED: Effect(State.SENT, retry=False, stop=False, permanent=False),
    Verdict.HARD_BOUNCE: Effect(State.BOUNCED, retry=False, stop=False, permanent=True),
    Verdict.TEMPORARY: Effect(State.DEFERRED, retry=True, stop=False, permanent=False),
    Verdict.SENDER_PROBLEM: Effect(State.QUEUED, retry=False, stop=False, permanent=True),
    Verdict.UNCERTAIN: Effect(State.UNCERTAIN, retry=False, stop=False, permanent=False),
    Verdict.FATAL: Effect(State.QUEUED, retry=False, stop=True, permanent=False),
}

_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


@dataclass(frozen=True)
class Reply:
    """An SMTP reply, or the failure that stood in for one (code 0)."""

    code: int = 0
    text: str = ""
    failure: Failure | None = None

    @property
    def enhanced(self) -> str:
        """The RFC 3463 status at the start of the text ('5.1.1'), or '' if there is none or its
        class disagrees with the reply code."""
        match = _ENHANCED.match(self.text.lstrip())
        if match is None:
            return ""
        if self.code and str(self.code)[0] != match.group(1):
            return ""
        return ".".join(match.groups())

    def __str__(self) -> str:
        if self.failure is not None:
            return f"{self.failure.value}: {self.text}" if self.text else self.failure.value
        return f"{self.code} {self.text}".strip()


def status_reply(status: str, text: str = "") -> Reply:
    """A DSN's `Status: 5.1.1` (with its diagnostic) as a reply the table can decide."""
    status = status.strip()
    klass = status[:1]
    code = {"2": 250, "4": 450, "5": 550}.get(klass, 0)
    return Reply(code, f"{status} {text}".strip())


class TransactionFailed(Exception):
    """A message was not accepted: the stage and the reply (or failure) that refused it."""

    def __init__(self, stage: Stage, reply: Reply):
        super().__init__(f"{stage.value}: {reply}")
        self.stage, self.reply = stage, reply


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    rule: str

    @property
    def effect(self) -> Effect:
        return self.verdict.effect


BEFORE_DOT = frozenset({Stage.CONNECT, Stage.GREETING, Stage.TLS, Stage.AUTH, Stage.MAIL,
                        Stage.RCPT, Stage.DATA})
ABOUT_RECIPIENT = frozenset({Stage.RCPT, Stage.DATA, Stage.FINAL, Stage.DSN})
# (subject, detail) of enhanced statuses with a rule of their own; detail None = the whole subject
_ENHANCED_RULES: list[tuple[str, str | None, Verdict, str]] = [
    ("1", "7", Verdict.SENDER_PROBLEM, "sender-address"),
    ("1", "8", Verdict.SENDER_PROBLEM, "sender-address"),
    ("1", None, Verdict.HARD_BOUNCE, "bad-address"),
    ("2", "1", Verdict.HARD_BOUNCE, "mailbox-disabled"),
    ("2", "2", Verdict.TEMPORARY, "mailbox-full"),
    ("2", "3", Verdict.SENDER_PROBLEM, "message-too-big"),
    ("2", None, Verdict.TEMPORARY, "mailbox-status"),
    ("3", None, Verdict.SENDER_PROBLEM, "our-problem"),
    ("4", None, Verdict.SENDER_PROBLEM, "our-problem"),
    ("5", None, Verdict.SENDER_PROBLEM, "our-problem"),
    ("6", None, Verdict.SENDER_PROBLEM, "our-problem"),
    ("7", None, Verdict.SENDER_PROBLEM, "our-problem"),
]
NO_MAILBOX_CODES = frozenset({550, 551, 553})


DELIVERED = Decision(Verdict.DELIVERED, "delivered")  # made once: nearly every message's decision


def decide(stage: Stage, reply: Reply) -> Decision:
    """The verdict on `reply` at `stage`: the outcome table above, first matching rule."""
    code, klass = reply.code, reply.code // 100
    if reply.failure is not None or code <= 0:
        if stage is Stage.FINAL:
            return Decision(Verdict.UNCERTAIN, "lost-after-dot")
        if reply.failure is Failure.TLS_UNTRUSTED:
            return Decision(Verdict.FATAL, "tls-untrusted")
        if stage in BEFORE_DOT:
            return Decision(Verdict.TEMPORARY, "connection-trouble")
        return Decision(Verdict.TEMPORARY, "unknown")
    if klass == 2 and stage in (Stage.FINAL, Stage.DSN):
        return DELIVERED
    if klass == 5 and stage is Stage.AUTH:
        return Decision(Verdict.FATAL, "auth-refused")
    if klass == 5 and stage in (Stage.CONNECT, Stage.GREETING, Stage.TLS):
        return Decision(Verdict.FATAL, "server-refuses-us")
    if klass == 5 and stage is Stage.MAIL:
        return Decision(Verdict.FATAL, "sender-refused")
    enhanced = reply.enhanced
    if klass == 5 and enhanced and stage in ABOUT_RECIPIENT:
        _, subject, detail = enhanced.split(".")
        for rule_subject, rule_detail, verdict, rule in _ENHANCED_RULES:
            if subject == rule_subject and rule_detail in (None, detail):
                return Decision(verdict, rule)
        if stage is Stage.DSN:  # 5.0.0 "other": the recipient's system failed it, saying no more
            return Decision(Verdict.TEMPORARY, "undefined-status")
    if klass == 4:
        return Decision(Verdict.TEMPORARY, "temporary")
    if klass == 5 and not enhanced and stage is Stage.RCPT and code in NO_MAILBOX_CODES:
        return Decision(Verdict.HARD_BOUNCE, "bare-no-mailbox")
    if klass == 5 and stage in ABOUT_RECIPIENT:
        return Decision(Verdict.SENDER_PROBLEM, "bare-permanent")
    return Decision(Verdict.TEMPORARY, "unknown")


_ADDRESSES = re.compile(r"<[^>]*>|\S+@\S+")
_NUMBERS = re.compile(r"\b[0-9A-F]{6,}\b|\d+")


def reply_key(reply: Reply) -> str:
    """The reply with what varies per recipient (addresses, queue ids, numbers) taken out, so
    that "the same reply" can be recognised across recipients: '550 5.1.1 <a@x>: User unknown'
    and '550 5.1.1 <b@y>: User unknown' have one key."""
    text = _NUMBERS.sub("#", _ADDRESSES.sub("<>", reply.text))
    return f"{reply.code} {reply.enhanced} {' '.join(text.split())}"


class Trip(enum.Enum):
    """What the circuit breaker says after an outcome."""

    GO_ON = "go-on"
    STOP = "stop"        # the same permanent reply refused `threshold` recipients in a row
    BACK_OFF = "back-off"  # `threshold` temporary failures in a row: the relay, not the rows


@dataclass
class Breaker:
    """Watches outcomes in the order they arrive, across all connections of a send.

    A relay that answers every recipient with the same permanent refusal (a wrong relay setting:
    '554 5.7.1 Relay access denied') or with temporary failures (the relay is down) is not telling
    us about the recipients. After `threshold` such outcomes in a row, `observe` says STOP (the
    send stops; the caller undoes what this streak did to subscribers: `streak` lists the rows) or
    BACK_OFF (the whole send waits instead of every row burning its attempts in seconds). Any
    delivered message, or a different reply, ends a streak.
    """

    threshold: int = 20
    streak: list[int] = field(default_factory=list)  # rows of the current permanent streak
    temporary_streak: int = 0
    tripped: bool = False  # after STOP, rows refused the same way are still added to `streak`
    _key: str = ""

    def delivered(self) -> None:
        """`observe` of a delivery (nearly every message): it ends any streak, and never trips."""
        if not self.tripped:
            self.temporary_streak = 0
            if self.streak or self._key:
                self._key, self.streak = "", []

    def observe(self, row: int, decision: Decision, reply: Reply) -> Trip:
        verdict = decision.verdict
        if self.tripped:  # messages in flight when the send stopped: their bounces are undone too
            if verdict.effect.permanent and reply_key(reply) == self._key:
                self.streak.append(row)
            return Trip.GO_ON
        if verdict is Verdict.TEMPORARY:
            self.temporary_streak += 1
            if self.threshold and self.temporary_streak >= self.threshold:
                self.temporary_streak = 0
                return Trip.BACK_OFF
            return Trip.GO_ON
        self.temporary_streak = 0
        if not verdict.effect.permanent:
            self._key, self.streak = "", []
            return Trip.GO_ON
        key = reply_key(reply)
        if key != self._key:
            self._key, self.streak = key, []
        self.streak.append(row)
        if self.threshold and len(self.streak) >= self.threshold:
            self.tripped = True
            return Trip.STOP
        return Trip.GO_ON
