"""What a finding does to its subscriber: one pure function over one table (docs/bounces.md).

| kind | subscriber becomes | when |
| --- | --- | --- |
| hard_bounce | bounced (the outcome table's effect for a hard bounce) | at once |
| soft_bounce | bounced | `soft_bounce_limit` of the last `soft_bounce_issues` issues soft-bounced (see below) |
| complaint | complained | at once, also from unsubscribed or bounced (a complaint is the strongest no) |
| unsubscribe | unsubscribed | at once |
| sender_problem, delayed, delivered, auto_reply | unchanged | never: counted only |
| unmatched, unparsed | unchanged | never: the message stays in the mailbox |

Soft bounces count per issue, and only those that arrived within `soft_bounce_days` days (0: any
age). A change only moves an active or unconfirmed subscriber (and a complaint anyone not complained
yet): an address that is already suppressed keeps the status that suppressed it.

Why "N of the last M issues" (Keila's 3 of the last 5) rather than Mailman 3's bounce score (hard
1, soft 0.5, once a day, reset after `bounce_info_stale_after` days): a newsletter sends one
message per reader per issue, so the issue is the natural unit. Several DSNs about one message
(a delay warning, then the failure) count once; an issue delivered without a bounce in between
weakens the case by itself, where a day-based score would need its own decay rule; and the
numbers read as what they are ("3 of the last 5 issues bounced"). The day limit keeps a sparse
sender (monthly) from acting on bounces from long ago.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import BouncesSettings
from ..delivery.outcome import Verdict
from ..subscribers.models import Status
from .models import Kind

MOVABLE = frozenset({Status.ACTIVE, Status.UNCONFIRMED})
AT_ONCE: dict[Kind, Status | None] = {
    Kind.HARD_BOUNCE: Verdict.HARD_BOUNCE.effect.subscriber,
    Kind.COMPLAINT: Status.COMPLAINED,
    Kind.UNSUBSCRIBE: Status.UNSUBSCRIBED,
}


@dataclass(frozen=True)
class Change:
    status: Status | None   # the subscriber's new status, or None: unchanged
    rule: str               # which row of the table decided


def judge(kind: Kind, current: Status, soft_issues: int, settings: BouncesSettings) -> Change:
    """The change a finding of `kind` makes to a subscriber now `current`; `soft_issues` is how
    many of the subscriber's last `soft_bounce_issues` issues (within `soft_bounce_days`) had a
    soft bounce, this one included."""
    target: Status | None
    if kind is Kind.SOFT_BOUNCE:
        if soft_issues < settings.soft_bounce_limit:
            return Change(None, f"soft-bounce {soft_issues} of {settings.soft_bounce_limit}")
        target, rule = Status.BOUNCED, (f"soft-bounces: {soft_issues} of the last "
                                        f"{settings.soft_bounce_issues} issues")
    elif kind in AT_ONCE:
        target, rule = AT_ONCE[kind], kind.value.replace("_", "-")
    else:
        return Change(None, "counted")
    if target is None or current == target:
        return Change(None, "already " + current.value)
    if current not in MOVABLE and kind is not Kind.COMPLAINT:
        return Change(None, "already suppressed as " + current.value)
    return Change(target, rule)
