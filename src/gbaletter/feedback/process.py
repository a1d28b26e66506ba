"""Processing the bounce mailbox: each message read, attributed to its journal row, recorded, and
what it does to its subscriber decided by `delivery.effects` (the one table of subscriber changes).

Attribution (which journal row, and whether that is proven) is `attribute`'s; an unverified
report is recorded and changes nobody.

Messages are handled in batches: the batch's rows and status changes commit together, then its
messages move to the processed folder. A crash in between leaves them in the mailbox; the next run
recognises them by their Message-ID in `feedback_events` and only moves them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from ..config import Workspace
from ..db import Database, utcnow
from ..db.bulk import DriverStatement
from ..delivery import effects
from ..delivery.effects import Cause
from ..delivery.models import Delivery
from ..interrupts import StopRequest
from ..links import read_unsubscribe_address, read_verp, signer_for
from ..subscribers.models import Subscriber
from ..tokens import BadToken, Signer
from .attribute import WENT_OUT, Unmatched, attribute
from .mailbox import Incoming, Source
from .models import FeedbackEvent, Kind
from .parse import Finding, Limits, Report, clean, read_report

BATCH = 500                     # messages per transaction (and per preload) ...
BATCH_BYTES = 16 * 1024 * 1024  # ... or fewer, if they are large: memory stays flat
EVENT_COLUMNS = ("issue_id", "delivery_id", "subscriber_id", "kind", "status", "rule", "diagnostic",
                 "reporting_mta", "arrived_at", "processed_at", "source_id", "verified")
KEEP_LINES = 100
# what a verified finding may do to its subscriber (delivery.effects decides whether it does);
# a soft bounce is a cause only at the N-of-M limit (effects.soft_bounce_rule), the other kinds never
CAUSES: dict[Kind, Cause] = {Kind.HARD_BOUNCE: Cause.HARD_BOUNCE, Kind.SOFT_BOUNCE: Cause.SOFT_BOUNCES,
                             Kind.COMPLAINT: Cause.COMPLAINT, Kind.UNSUBSCRIBE: Cause.UNSUBSCRIBE_MAIL}


@dataclass
class Outcome:
    name: str
    kind: Kind
    line: str = ""   # one line for the operator (why it stays, what it changed), or ''
    verified: bool = True  # False: named our subscribers without proof that it is about our message

    @property
    def counted_as(self) -> str:
        return self.kind.value if self.verified else f"unverified_{self.kind.value}"


@dataclass
class RunSummary:
    """What a run did. The lines are kept up to KEEP_LINES each (a big mailbox would otherwise
    grow the process with its size); the counts are complete."""

    counts: Counter[str] = field(default_factory=Counter)
    left: list[Outcome] = field(default_factory=list)     # stayed in the mailbox, with why
    notes: list[str] = field(default_factory=list)        # understood, worth a line
    changes: list[str] = field(default_factory=list)      # subscribers whose status changed
    more: Counter[str] = field(default_factory=Counter)   # lines not kept: "left", "notes", "changes"
    already: int = 0                                      # read before (moved only)
    unverified: int = 0                                   # findings not proven ours: nobody changed

    def keep(self, what: str, item) -> None:
        lines = getattr(self, what)
        if len(lines) < KEEP_LINES:
            lines.append(item)
        else:
            self.more[what] += 1


class Processor:
    """Turns a batch of messages into feedback events and status changes, in the caller's session.

    Per batch, not per message: what the batch's messages name (journal rows, subscribers, what
    was recorded before, soft-bounce histories) is read in a few queries up front, and the events
    are inserted in one statement at the end.
    """

    def __init__(self, ws: Workspace, dialect: Dialect, signer: Signer | None = None):
        self.settings = ws.config.bounces
        self._insert = DriverStatement(insert(FeedbackEvent.__table__), dialect, EVENT_COLUMNS)
        self.signer = signer or signer_for(ws)
        self.limits = Limits(self.settings.max_message_bytes, self.settings.max_parts,
                             self.settings.max_depth)
        self._events: list[tuple] = []
        self._recorded: dict[str, set[str]] = {}            # source_id -> kinds already in the table
        self._soft: dict[int, set[str]] = {}                # subscriber -> issues with a soft bounce
        self._recent: dict[int, list[str]] = {}             # subscriber -> last issues sent, newest first
        self._loaded: list[object] = []
        self.now = utcnow()

    def handle_batch(self, session: Session, batch: list[Incoming], summary: RunSummary) -> list[Outcome]:
        self.now = utcnow()
        reports = [self._read(incoming) for incoming in batch]
        self._preload(session, reports)
        with session.no_autoflush:
            outcomes = [self._handle(session, incoming, report, summary)
                        for incoming, report in zip(batch, reports, strict=True)]
        self._insert.run(session.connection(), self._events)
        self._events = []
        return outcomes

    def _read(self, incoming: Incoming) -> Report:
        if incoming.data is None:
            return Report(Kind.UNPARSED, source_id=f"size:{incoming.name}",
                          problem=f"larger than {self.limits.max_bytes:,} bytes ({incoming.size:,}); not read")
        return read_report(incoming.data, self.limits)

    def _preload(self, session: Session, reports: list[Report]) -> None:
        """Everything the batch names, in a few queries (then found in the session's identity map)."""
        sources = [r.source_id[:250] for r in reports]
        self._recorded = {}
        for source, kind in session.execute(select(FeedbackEvent.source_id, FeedbackEvent.kind)
                                            .where(FeedbackEvent.source_id.in_(sources))).all():
            self._recorded.setdefault(source, set()).add(kind)
        row_ids, subscriber_ids, named = set(), set(), []
        for report in reports:
            for address in [*report.envelope_to, report.returned_return_path]:
                try:
                    row_id = read_verp(self.signer, address)
                    subscriber_ids.add(read_unsubscribe_address(self.signer, address) or 0)
                except BadToken:
                    continue
                if row_id:
                    row_ids.add(row_id)
                    named.append((report, row_id))
        rows = {row.id: row for row in session.scalars(select(Delivery).where(Delivery.id.in_(row_ids)))}
        subscriber_ids |= {row.subscriber_id for row in rows.values() if row.subscriber_id}
        # held here: the session's identity map only keeps what someone holds, and session.get()
        # then finds these without a query
        self._loaded = [*rows.values(), *session.scalars(select(Subscriber).where(Subscriber.id.in_(subscriber_ids)))]
        self._soft, self._recent = {}, {}
        soft: set[int] = {rows[row_id].subscriber_id or 0 for report, row_id in named
                if row_id in rows and rows[row_id].subscriber_id
                and any(f.kind is Kind.SOFT_BOUNCE for f in report.findings)}
        if soft:
            self._load_histories(session, soft)

    def _load_histories(self, session: Session, subscriber_ids: set[int]) -> None:
        """The soft-bounce histories (issues with a soft bounce; the last issues sent) of these."""
        events = select(FeedbackEvent.subscriber_id, FeedbackEvent.issue_id).where(
            FeedbackEvent.subscriber_id.in_(subscriber_ids), FeedbackEvent.kind == Kind.SOFT_BOUNCE.value)
        if self.settings.soft_bounce_days:
            events = events.where(FeedbackEvent.arrived_at >= self._cutoff())
        events = events.where(FeedbackEvent.verified)
        for soft_id, soft_issue in session.execute(events).all():
            self._soft.setdefault(soft_id or 0, set()).add(soft_issue or "")
        newest = func.row_number().over(partition_by=Delivery.subscriber_id, order_by=Delivery.id.desc())
        ranked = (select(Delivery.subscriber_id, Delivery.issue_id, newest.label("rank"))
                  .where(Delivery.subscriber_id.in_(subscriber_ids), Delivery.state.in_(WENT_OUT)).subquery())
        for sent_id, sent_issue in session.execute(
                select(ranked.c.subscriber_id, ranked.c.issue_id)
                .where(ranked.c.rank <= self.settings.soft_bounce_issues).order_by(ranked.c.rank)).all():
            self._recent.setdefault(cast(int, sent_id), []).append(cast(str, sent_issue))
        for subscriber_id in subscriber_ids:
            self._soft.setdefault(subscriber_id, set())
            self._recent.setdefault(subscriber_id, [])

    def _cutoff(self) -> datetime:
        return self.now - timedelta(days=self.settings.soft_bounce_days)

    def _handle(self, session: Session, incoming: Incoming, report: Report, summary: RunSummary) -> Outcome:
        if report.kind.left_in_mailbox:
            return self._leave(incoming, report)
        seen = [kind for kind in self._recorded.get(report.source_id[:250], ()) if not Kind(kind).left_in_mailbox]
        if seen:
            summary.already += 1
            return Outcome(incoming.name, Kind(seen[0]))
        try:
            attribution = attribute(session, self.signer, report, self.now)
        except Unmatched as why:
            report.kind, report.problem = Kind.UNMATCHED, str(why)
            return self._leave(incoming, report)
        verified = attribution.verified
        for finding, target in attribution.pairs:
            if verified:
                self._apply(session, report, finding, target, summary, incoming.name)
            else:
                self._record_unverified(report, finding, target, summary, incoming.name)
        self._recorded.setdefault(report.source_id[:250], set()).add(report.kind.value)
        return Outcome(incoming.name, report.kind, verified=verified)

    def _event(self, report: Report, kind: Kind, **fields) -> None:
        values = {
            "issue_id": None, "delivery_id": None, "subscriber_id": None, "status": "", "rule": "",
            "diagnostic": report.problem, "kind": kind.value, "reporting_mta": report.reporting_mta,
            "arrived_at": report.arrived_at or self.now, "processed_at": self.now,
            "source_id": report.source_id[:250], "verified": True, **fields}
        self._events.append(tuple(values[name] for name in EVENT_COLUMNS))

    def _leave(self, incoming: Incoming, report: Report) -> Outcome:
        """Record (once) why a message stays in the mailbox."""
        kinds = self._recorded.setdefault(report.source_id[:250], set())
        if report.kind.value not in kinds:
            self._event(report, report.kind)
            kinds.add(report.kind.value)
        return Outcome(incoming.name, report.kind, report.problem)

    # -- effect -------------------------------------------------------------------------------

    def _record_unverified(self, report: Report, finding: Finding,
                           target: Delivery | Subscriber | None, summary: RunSummary, name: str) -> None:
        """A finding not proven to be about our message: recorded, counted apart, nobody changed."""
        row = target if isinstance(target, Delivery) else None
        self._event(report, finding.kind, issue_id=row.issue_id if row else None,
                    delivery_id=row.id if row else None,
                    subscriber_id=row.subscriber_id if row else None, status=finding.status,
                    rule=finding.rule[:40], diagnostic=finding.diagnostic, verified=False)
        if row is None:
            return
        summary.unverified += 1
        summary.keep("notes", f"{name}: unverified {finding.kind.value.replace('_', ' ')} naming "
                              f"{clean(finding.address, 120)} (no VERP token, none of our Message-IDs): "
                              f"recorded, nobody changed; the next issue's own return will tell")

    def _apply(self, session: Session, report: Report, finding: Finding,
               target: Delivery | Subscriber | None, summary: RunSummary, name: str) -> None:
        row = target if isinstance(target, Delivery) else None
        subscriber = target if isinstance(target, Subscriber) else (
            session.get(Subscriber, row.subscriber_id) if row is not None and row.subscriber_id else None)
        arrived = report.arrived_at or self.now
        self._event(report, finding.kind, issue_id=row.issue_id if row else None,
                    delivery_id=row.id if row else None, subscriber_id=subscriber.id if subscriber else None,
                    status=finding.status, rule=finding.rule[:40], diagnostic=finding.diagnostic)
        if subscriber is None:
            if row is not None or isinstance(target, Subscriber) or finding.kind is Kind.UNSUBSCRIBE:
                summary.keep("notes", f"{name}: {finding.kind.value.replace('_', ' ')} for an erased "
                                      "subscriber: recorded, nobody changed")
            return
        cause = CAUSES.get(finding.kind)
        if cause is None or effects.change(cause, subscriber.status) is None:
            return
        rule = cause.value
        if cause is Cause.SOFT_BOUNCES:
            count = self._soft_issues(session, subscriber.id, row, arrived) if row is not None else 0
            reached = effects.soft_bounce_rule(count, self.settings)
            if reached is None:
                return
            rule = reached
        old = subscriber.status
        issue_id = row.issue_id if row else None
        reason = describe(finding, report, issue_id, arrived, rule)
        effects.apply(session, subscriber, cause, actor=effects.BOUNCES_ACTOR, issue_id=issue_id,
                      reason=reason, when=self.now)
        summary.keep("changes", f"{subscriber.email}: {old} -> {subscriber.status} ({reason})")

    def _soft_issues(self, session: Session, subscriber_id: int, row: Delivery, arrived: datetime) -> int:
        """How many of the subscriber's last issues had a soft bounce, this one included."""
        if subscriber_id not in self._soft:
            self._load_histories(session, {subscriber_id})
        issues = self._soft[subscriber_id]
        if not self.settings.soft_bounce_days or arrived >= self._cutoff():
            issues.add(row.issue_id)
        recent = self._recent[subscriber_id]
        if row.issue_id not in recent:
            recent.insert(0, row.issue_id)
        return effects.soft_bounce_count(issues, recent, self.settings)


def describe(finding: Finding, report: Report, issue_id: str | None, arrived: datetime, rule: str) -> str:
    """The subscriber event's reason: which report, saying what (date, reporting MTA, status,
    diagnostic), decided by which rule."""
    parts = [f"{finding.kind.value.replace('_', ' ')}" + (f" of issue {issue_id}" if issue_id else "")]
    if finding.status:
        parts.append(f"Status {finding.status} ({finding.rule})")
    if finding.diagnostic:
        parts.append(finding.diagnostic[:200])
    if report.reporting_mta:
        parts.append(f"reported by {report.reporting_mta}")
    if finding.remote_mta:
        parts.append(f"remote MTA {finding.remote_mta}")
    parts.append(f"dated {arrived:%Y-%m-%d %H:%M} UTC")
    parts.append(f"rule: {rule}")
    return "; ".join(parts)


def process_mailbox(ws: Workspace, db: Database, source: Source,
                    progress: Callable[[Outcome], None] | None = None,
                    stopping: StopRequest | None = None) -> RunSummary:
    """Read every message of `source` once: record it, change who it names, move what was understood.

    A stop asked for (`stopping`, interrupts.py) ends the run after the batch being recorded; the
    messages not read yet stay in the mailbox for the next run."""
    processor = Processor(ws, db.engine.dialect)
    summary = RunSummary()
    batch: list[Incoming] = []

    def flush() -> None:
        done: list[str] = []
        with db.session() as session:
            outcomes = processor.handle_batch(session, batch, summary)
        for incoming, outcome in zip(batch, outcomes, strict=True):
            summary.counts[outcome.counted_as] += 1
            if outcome.kind.left_in_mailbox:
                summary.keep("left", outcome)
            else:
                done.append(incoming.key)
            if progress:
                progress(outcome)
        source.done(done)
        batch.clear()

    held = 0
    for incoming in source.messages():
        batch.append(incoming)
        held += len(incoming.data or b"")
        if len(batch) >= BATCH or held >= BATCH_BYTES:
            flush()
            held = 0
            if stopping is not None and stopping.requested:
                return summary
    if batch:
        flush()
    return summary

