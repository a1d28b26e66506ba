"""Processing the bounce mailbox: each message read, attributed to its journal row, judged, recorded.

Attribution, first that applies:
1. a VERP address it was delivered to (`bounces+<token>@...`, or in the returned message's
   Return-Path for a complaint): the token names the journal row; a forged or mangled token
   leaves the message where it is, nothing else is tried;
2. the Message-ID of the returned message (`<ISSUE.TAG.ROW@domain>`): the tag is checked, so a
   forged one is refused the same way;
3. the recipient the report names (Original-Recipient, else Final-Recipient): the subscriber with
   that address and the last issue sent to them; an address we never sent to is left in place.
Unsubscribe mails are attributed by their `unsubscribe+<token>` address only (a From can be forged).

Messages are handled in batches: the batch's rows and status changes commit together, then its
messages move to the processed folder. A crash in between leaves them in the mailbox; the next run
recognises them by their Message-ID in `feedback_events` and only moves them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import Session

from ..config import Workspace
from ..db import Database, utcnow
from ..errors import GbaletterError
from ..delivery.models import Delivery, State
from ..links import read_message_id, read_unsubscribe_address, read_verp, signer_for
from ..subscribers.models import Subscriber
from ..subscribers.addresses import email_hash, normalize_address
from ..subscribers.service import change_status
from ..tokens import BadToken, Signer
from .mailbox import Incoming, Source
from .models import FeedbackEvent, Kind
from .parse import Finding, Limits, Report, clean, read_report
from .policy import judge

BATCH = 200
ACTOR = "bounces"
# journal states of a message that went out: the issues a subscriber was sent
WENT_OUT = (State.SENT.value, State.BOUNCED.value, State.UNCERTAIN.value)


@dataclass
class Outcome:
    name: str
    kind: Kind
    line: str = ""   # one line for the operator (why it stays, what it changed), or ''


@dataclass
class RunSummary:
    counts: Counter[str] = field(default_factory=Counter)
    left: list[Outcome] = field(default_factory=list)     # stayed in the mailbox, with why
    notes: list[str] = field(default_factory=list)        # understood, worth a line
    changes: list[str] = field(default_factory=list)      # subscribers whose status changed
    already: int = 0                                      # read before (moved only)

    @property
    def processed(self) -> int:
        return sum(self.counts.values()) - len(self.left)


class _Unmatched(Exception):
    """The report names no delivery of ours (one line: why)."""


class Processor:
    """Turns messages into feedback events and status changes, inside the caller's session."""

    def __init__(self, ws: Workspace, signer: Signer | None = None):
        self.settings = ws.config.bounces
        self.signer = signer or signer_for(ws)
        self.limits = Limits(self.settings.max_message_bytes, self.settings.max_parts,
                             self.settings.max_depth)

    def handle(self, session: Session, incoming: Incoming, summary: RunSummary) -> Outcome:
        if incoming.data is None:
            return self._leave(session, incoming, Report(
                Kind.UNPARSED, source_id=f"size:{incoming.name}",
                problem=f"larger than {self.limits.max_bytes:,} bytes ({incoming.size:,}); not read"))
        report = read_report(incoming.data, self.limits)
        if report.kind.left_in_mailbox:
            return self._leave(session, incoming, report)
        seen = session.scalar(select(FeedbackEvent.kind).where(
            FeedbackEvent.source_id == report.source_id,
            FeedbackEvent.kind.not_in([Kind.UNPARSED.value, Kind.UNMATCHED.value])).limit(1))
        if seen is not None:
            summary.already += 1
            return Outcome(incoming.name, Kind(seen))
        pairs: list[tuple[Finding, Delivery | Subscriber | None]]
        try:
            if report.kind is Kind.UNSUBSCRIBE:
                pairs = [(report.findings[0], self._unsubscriber(session, report))]
            else:
                pairs = list(self._attribute(session, report))
        except _Unmatched as why:
            report.kind, report.problem = Kind.UNMATCHED, str(why)
            return self._leave(session, incoming, report)
        for finding, target in pairs:
            self._apply(session, report, finding, target, summary, incoming.name)
        return Outcome(incoming.name, report.kind)

    def _leave(self, session: Session, incoming: Incoming, report: Report) -> Outcome:
        """Record (once) why a message stays in the mailbox."""
        exists = session.scalar(select(FeedbackEvent.id).where(
            FeedbackEvent.source_id == report.source_id, FeedbackEvent.kind == report.kind.value).limit(1))
        if exists is None:
            now = utcnow()
            session.add(FeedbackEvent(kind=report.kind.value, diagnostic=report.problem,
                                      reporting_mta=report.reporting_mta,
                                      arrived_at=report.arrived_at or now, processed_at=now,
                                      source_id=report.source_id[:250]))
        return Outcome(incoming.name, report.kind, report.problem)

    # -- attribution ------------------------------------------------------------------------

    def _attribute(self, session: Session, report: Report) -> list[tuple[Finding, Delivery | None]]:
        row = self._row_by_verp(session, report) or self._row_by_message_id(session, report)
        if row is not None:
            subscriber = session.get(Subscriber, row.subscriber_id) if row.subscriber_id else None
            finding = report.worst(subscriber.email if subscriber else "") if report.findings else Finding(report.kind)
            return [(finding, row)]
        if report.kind is Kind.AUTO_REPLY:
            return [(Finding(Kind.AUTO_REPLY), None)]
        if not report.findings:
            raise _Unmatched("names no recipient, no VERP address and none of our Message-IDs")
        return [(finding, self._row_by_address(session, finding.address)) for finding in report.findings]

    def _row_by_verp(self, session: Session, report: Report) -> Delivery | None:
        for address in [*report.envelope_to, report.returned_return_path]:
            if not address:
                continue
            try:
                row_id = read_verp(self.signer, address)
            except BadToken:
                raise _Unmatched(f"forged or mangled VERP token in {clean(address, 120)}") from None
            if row_id is not None:
                row = session.get(Delivery, row_id)
                if row is None:
                    raise _Unmatched(f"VERP address {address} names journal row {row_id}, which does not exist")
                return row
        return None

    def _row_by_message_id(self, session: Session, report: Report) -> Delivery | None:
        if not report.returned_message_id:
            return None
        try:
            named = read_message_id(self.signer, report.returned_message_id)
        except BadToken as exc:
            raise _Unmatched(str(exc)) from None
        if named is None:
            return None
        issue_id, row_id = named
        row = session.get(Delivery, row_id)
        if row is None or row.issue_id != issue_id:
            raise _Unmatched(f"Message-ID {report.returned_message_id} names no message of issue {issue_id}")
        return row

    def _row_by_address(self, session: Session, address: str) -> Delivery:
        try:
            key = email_hash(normalize_address(address))
        except GbaletterError:
            raise _Unmatched(f"recipient {clean(address, 120)!r} is not an address") from None
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email_hash == key))
        if subscriber_id is None:
            raise _Unmatched(f"{clean(address, 120)} is not on the list")
        row = session.scalars(select(Delivery).where(Delivery.subscriber_id == subscriber_id,
                                                     Delivery.state.in_(WENT_OUT))
                              .order_by(Delivery.id.desc()).limit(1)).first()
        if row is None:
            raise _Unmatched(f"{clean(address, 120)} was never sent an issue")
        return row

    def _unsubscriber(self, session: Session, report: Report) -> Subscriber | None:
        for address in report.envelope_to:
            try:
                subscriber_id = read_unsubscribe_address(self.signer, address)
            except BadToken:
                raise _Unmatched(f"forged or mangled unsubscribe token in {clean(address, 120)}") from None
            if subscriber_id is not None:
                return session.get(Subscriber, subscriber_id)  # None: erased since
        raise _Unmatched("unsubscribe mail without a token: who sent it cannot be told (a From can be forged)")

    # -- effect -------------------------------------------------------------------------------

    def _apply(self, session: Session, report: Report, finding: Finding,
               target: Delivery | Subscriber | None, summary: RunSummary, name: str) -> None:
        row = target if isinstance(target, Delivery) else None
        subscriber = target if isinstance(target, Subscriber) else (
            session.get(Subscriber, row.subscriber_id) if row is not None and row.subscriber_id else None)
        now = utcnow()
        arrived = report.arrived_at or now
        session.add(FeedbackEvent(
            issue_id=row.issue_id if row else None, delivery_id=row.id if row else None,
            subscriber_id=subscriber.id if subscriber else None, kind=finding.kind.value,
            status=finding.status, rule=finding.rule[:40], diagnostic=finding.diagnostic,
            reporting_mta=report.reporting_mta, arrived_at=arrived, processed_at=now,
            source_id=report.source_id[:250]))
        if subscriber is None:
            if row is not None or isinstance(target, Subscriber) or finding.kind is Kind.UNSUBSCRIBE:
                summary.notes.append(f"{name}: {finding.kind.value.replace('_', ' ')} for an erased "
                                     "subscriber: recorded, nobody changed")
            return
        soft = self._soft_issues(session, subscriber.id, row, now) if finding.kind is Kind.SOFT_BOUNCE else 0
        change = judge(finding.kind, subscriber.status, soft, self.settings)
        if change.status is None:
            return
        old = subscriber.status
        reason = describe(finding, report, row.issue_id if row else None, arrived, change.rule)
        change_status(session, subscriber, change.status, actor=ACTOR, reason=reason, when=now)
        summary.changes.append(f"{subscriber.email}: {old} -> {change.status} ({reason})")

    def _soft_issues(self, session: Session, subscriber_id: int, row: Delivery | None,
                     now: datetime) -> int:
        """How many of the subscriber's last issues had a soft bounce (this one included)."""
        session.flush()
        recent = (select(Delivery.issue_id)
                  .where(Delivery.subscriber_id == subscriber_id,
                         or_(Delivery.state.in_(WENT_OUT), Delivery.id == (row.id if row else -1)))
                  .order_by(Delivery.id.desc()).limit(self.settings.soft_bounce_issues))
        query = select(func.count(distinct(FeedbackEvent.issue_id))).where(
            FeedbackEvent.subscriber_id == subscriber_id, FeedbackEvent.kind == Kind.SOFT_BOUNCE.value,
            FeedbackEvent.issue_id.in_(recent.scalar_subquery()))
        if self.settings.soft_bounce_days:
            query = query.where(FeedbackEvent.arrived_at >= now - timedelta(days=self.settings.soft_bounce_days))
        return session.scalar(query) or 0


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
                    progress: Callable[[Outcome], None] | None = None) -> RunSummary:
    """Read every message of `source` once: record it, change who it names, move what was understood."""
    processor = Processor(ws)
    summary = RunSummary()
    batch: list[Incoming] = []

    def flush() -> None:
        done: list[str] = []
        with db.session() as session:
            for incoming in batch:
                outcome = processor.handle(session, incoming, summary)
                summary.counts[outcome.kind.value] += 1
                if outcome.kind.left_in_mailbox:
                    summary.left.append(outcome)
                else:
                    done.append(incoming.key)
                if progress:
                    progress(outcome)
        source.done(done)
        batch.clear()

    for incoming in source.messages():
        batch.append(incoming)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return summary


def issue_feedback(session: Session, issue_id: str) -> dict[str, int]:
    """What came back after `issue_id` was sent: feedback events per kind (for `issue status`
    and reports). Unmatched and unparsed messages name no issue, so they are not here."""
    counts = dict(session.execute(select(FeedbackEvent.kind, func.count()).where(
        FeedbackEvent.issue_id == issue_id).group_by(FeedbackEvent.kind)).all())
    return {kind.value: counts.get(kind.value, 0) for kind in Kind if not kind.left_in_mailbox}
