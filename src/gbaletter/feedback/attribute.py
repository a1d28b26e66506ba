"""Which journal row a message from the bounce mailbox is about, and whether that is proven.

First that applies (docs/bounces.md, "Attribution"):
1. a VERP address it was delivered to (`bounces+<token>@...`, or in the returned message's
   Return-Path for a complaint): the token names the journal row; a forged or mangled token
   leaves the message where it is, nothing else is tried;
2. the Message-ID of the returned message (`<ISSUE.TAG.ROW@domain>`): the tag is checked, so a
   forged one is refused the same way;
3. the recipient the report names (Original-Recipient, else Final-Recipient): the subscriber with
   that address and the last issue sent to them; an address we never sent to is left in place.
   Such a report is *unverified*: anyone can mail the bounce address a report naming our
   subscribers (or a relay rewrote the return path, or it is about another list's message). It
   changes nobody; the subscriber stays on the list, so the next issue, with its own VERP token and
   signed Message-ID, verifies it: if the address is bad, that issue's bounce is attributed by 1.
   or 2. and acted upon (docs/bounces.md says why no probe).
Unsubscribe mails are attributed by their `unsubscribe+<token>` address only (a From can be forged).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..delivery.models import Delivery, State
from ..errors import GbaletterError
from ..links import read_message_id, read_unsubscribe_address, read_verp
from ..subscribers.addresses import email_hash, normalize_address
from ..subscribers.models import Subscriber
from ..tokens import BadToken, Signer
from .models import Kind
from .parse import Finding, Report, clean

# journal states of a message that went out: the issues a subscriber was sent
WENT_OUT = (State.SENT.value, State.BOUNCED.value, State.UNCERTAIN.value)


class Unmatched(Exception):
    """The report names no delivery of ours (one line: why)."""


@dataclass(frozen=True)
class Attribution:
    """(finding, what it is about: the journal row, or the subscriber alone, or None when they were
    erased) pairs, and whether they are verified (a token or our signed Message-ID names them)."""

    pairs: list[tuple[Finding, Delivery | Subscriber | None]]
    verified: bool


def attribute(session: Session, signer: Signer, report: Report, now: datetime) -> Attribution:
    """What `report` is about; `Unmatched` (one line: why) when it names nothing of ours."""
    if report.kind is Kind.UNSUBSCRIBE:
        return Attribution([(report.findings[0], _unsubscriber(session, signer, report, now))], True)
    row = _row_by_verp(session, signer, report) or _row_by_message_id(session, signer, report)
    if row is not None:
        subscriber = session.get(Subscriber, row.subscriber_id) if row.subscriber_id else None
        finding = report.worst(subscriber.email if subscriber else "") if report.findings else Finding(report.kind)
        return Attribution([(finding, row)], True)
    if report.kind is Kind.AUTO_REPLY:
        return Attribution([(Finding(Kind.AUTO_REPLY), None)], False)
    if not report.findings:
        raise Unmatched("names no recipient, no VERP address and none of our Message-IDs")
    return Attribution([(finding, _row_by_address(session, finding.address)) for finding in report.findings],
                       False)


def _row_by_verp(session: Session, signer: Signer, report: Report) -> Delivery | None:
    for address in [*report.envelope_to, report.returned_return_path]:
        if not address:
            continue
        try:
            row_id = read_verp(signer, address)
        except BadToken:
            raise Unmatched(f"forged or mangled VERP token in {clean(address, 120)}") from None
        if row_id is not None:
            row = session.get(Delivery, row_id)
            if row is None:
                raise Unmatched(f"VERP address {address} names journal row {row_id}, which does not exist")
            return row
    return None

def _row_by_message_id(session: Session, signer: Signer, report: Report) -> Delivery | None:
    if not report.returned_message_id:
        return None
    try:
        named = read_message_id(signer, report.returned_message_id)
    except BadToken as exc:
        raise Unmatched(str(exc)) from None
    if named is None:
        return None
    issue_id, row_id = named
    row = session.get(Delivery, row_id)
    if row is None or row.issue_id != issue_id:
        raise Unmatched(f"Message-ID {report.returned_message_id} names no message of issue {issue_id}")
    return row

def _row_by_address(session: Session, address: str) -> Delivery:
    try:
        key = email_hash(normalize_address(address))
    except GbaletterError:
        raise Unmatched(f"recipient {clean(address, 120)!r} is not an address") from None
    subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email_hash == key))
    if subscriber_id is None:
        raise Unmatched(f"{clean(address, 120)} is not on the list")
    row = session.scalars(select(Delivery).where(Delivery.subscriber_id == subscriber_id,
                                                 Delivery.state.in_(WENT_OUT))
                          .order_by(Delivery.id.desc()).limit(1)).first()
    if row is None:
        raise Unmatched(f"{clean(address, 120)} was never sent an issue")
    return row

def _unsubscriber(session: Session, signer: Signer, report: Report, now: datetime) -> Delivery | Subscriber | None:
    """The subscriber a mailed unsubscribe names (the token in its address), as the journal
    row of the last issue they were sent before it was read: the mail itself names no issue,
    and the last one is the one whose List-Unsubscribe they used. The subscriber alone when no
    issue was sent to them yet (a test copy), None when they were erased since."""
    for address in report.envelope_to:
        try:
            subscriber_id = read_unsubscribe_address(signer, address)
        except BadToken:
            raise Unmatched(f"forged or mangled unsubscribe token in {clean(address, 120)}") from None
        if subscriber_id is not None:
            last = session.scalars(select(Delivery).where(
                Delivery.subscriber_id == subscriber_id, Delivery.state == State.SENT.value,
                Delivery.sent_at <= now)
                .order_by(Delivery.sent_at.desc(), Delivery.id.desc()).limit(1)).first()
            return last or session.get(Subscriber, subscriber_id)
    raise Unmatched("unsubscribe mail without a token: who sent it cannot be told (a From can be forged)")
