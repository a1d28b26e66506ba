"""Reading one message from the bounce mailbox: what it is and what it says, without a database.

`read_report(data, limits)` returns a `Report`: its kind, one `Finding` per recipient it talks
about, the addresses it was delivered to (where VERP tokens are), and the Message-ID and return
path of the message it returns (where the journal row is named without VERP). In this order:

1. too big, too many parts or nested too deeply: unparsed (nothing else is looked at);
2. `multipart/report; report-type=delivery-status` (RFC 3464): per recipient Action, Status,
   Diagnostic-Code, Remote-MTA, Final-/Original-Recipient; a failed recipient's Status (that
   field only) is decided by the outcome table (`delivery.outcome.decide(Stage.DSN, ...)`), the
   one place that tells a hard bounce from a soft one; a failure without a Status is soft;
3. `multipart/report; report-type=feedback-report` (RFC 5965, ARF): a complaint;
4. delivered to the `unsubscribe+<token>` address: an unsubscribe;
5. flufl.bounce's detectors (Exim, qmail, Exchange, old Sendmail, webmail, ...): the addresses
   they find, with the first enhanced status code written near them, if any, decided by the table;
6. RFC 3834 automatic replies (Auto-Submitted, X-Autoreply, Precedence: auto_reply, ...), and
   read receipts: auto-replies, counted and ignored;
7. anything else: unparsed.

The standard library's compat32 parser reads the message (several times faster than the default
policy's); nothing here renders or follows anything in it: HTML parts are never looked at.
"""

from __future__ import annotations

import email
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from flufl.bounce import all_failures

from ..delivery.outcome import Stage, Verdict, decide, status_reply
from ..links import UNSUBSCRIBE_LOCAL
from .models import Kind

# header fields a delivered message carries its envelope recipient in (Postfix, Exim, Dovecot, qmail)
ENVELOPE_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "to")
AUTO_REPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder")
AUTO_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ENHANCED = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
# in the text of a non-standard bounce: only a failure (4.x.x, 5.x.x) is a status, and never on a
# quoted header line of the returned message (`X-Mailer: gbaletter 2.0.13`) other than these
_FAILURE = re.compile(r"(?<![\d.])([45]\.\d{1,3}\.\d{1,3})(?![\d.])")
_HEADER_LINE = re.compile(r"^\s*([A-Za-z][\w-]*):\s")
STATUS_FIELDS = frozenset({"status", "diagnostic-code"})
_MESSAGE_ID_LINE = re.compile(r"^message-id:\s*(<[^>\s]{3,250}>)", re.IGNORECASE | re.MULTILINE)
_RETURN_PATH_LINE = re.compile(r"^return-path:\s*<([^>\s]{3,320})>", re.IGNORECASE | re.MULTILINE)
TEXT_SCAN_BYTES = 64_000  # of each text part, searched for a status near a detected address
FIELD_LIMIT = 500
# verdict of the outcome table -> what a failed recipient means here
FAILED_KIND = {Verdict.HARD_BOUNCE: Kind.HARD_BOUNCE, Verdict.TEMPORARY: Kind.SOFT_BOUNCE,
               Verdict.SENDER_PROBLEM: Kind.SENDER_PROBLEM, Verdict.DELIVERED: Kind.DELIVERED}
SEVERITY = [Kind.HARD_BOUNCE, Kind.SOFT_BOUNCE, Kind.SENDER_PROBLEM, Kind.DELAYED, Kind.DELIVERED]


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 2_000_000
    max_parts: int = 200
    max_depth: int = 8


@dataclass(frozen=True)
class Finding:
    """What a report says about one recipient."""

    kind: Kind
    address: str = ""        # Original-Recipient, else Final-Recipient (as the report wrote it)
    status: str = ""         # 5.1.1
    rule: str = ""           # the outcome table's rule (or how the kind was found)
    diagnostic: str = ""
    remote_mta: str = ""


@dataclass
class Report:
    kind: Kind                                   # what the message is, as a whole
    findings: list[Finding] = field(default_factory=list)
    envelope_to: list[str] = field(default_factory=list)
    returned_message_id: str = ""                # the Message-ID of the message it returns
    returned_return_path: str = ""               # the returned message's Return-Path (ARF)
    reporting_mta: str = ""
    arrived_at: datetime | None = None           # the report's own date, if it has a valid one
    source_id: str = ""                          # the report's Message-ID (or a digest)
    problem: str = ""                            # why it is unparsed

    def worst(self, address: str = "") -> Finding:
        """The most severe finding (about `address`, when one is about it)."""
        candidates = [f for f in self.findings if address and f.address.lower() == address.lower()]
        return min(candidates or self.findings, key=lambda f: SEVERITY.index(f.kind)
                   if f.kind in SEVERITY else len(SEVERITY))


def clean(value: object, limit: int = FIELD_LIMIT) -> str:
    """A header or field as one line of printable text: undecodable bytes replaced, control
    characters (terminal escapes, line breaks) removed, cut at `limit`."""
    if value is None:
        return ""
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(_CONTROL.sub(" ", text).split())[:limit]


def _source_id(msg: Message, data: bytes) -> str:
    found = clean(msg.get("message-id"), 250)
    return found or "sha256:" + hashlib.sha256(data).hexdigest()[:32]


def _date(value: object) -> datetime | None:
    text = clean(value)
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _structure_problem(msg: Message, limits: Limits) -> str:
    parts, stack = 0, [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        parts += 1
        if parts > limits.max_parts:
            return f"more than {limits.max_parts} MIME parts"
        if depth > limits.max_depth:
            return f"MIME parts nested more than {limits.max_depth} deep"
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))
    return ""


def _typed_address(value: object) -> str:
    """The address of a DSN recipient field: 'rfc822; a@b' -> 'a@b'."""
    text = clean(value)
    kind, _, address = text.partition(";")
    return (address if _ else kind).strip().strip("<>")


def _envelope_to(msg: Message) -> list[str]:
    found: list[str] = []
    for name in ENVELOPE_HEADERS:
        values = [clean(v) for v in msg.get_all(name, [])]
        # Delivered-To and its kind hold one bare address: the address parser only for the others
        simple = all(v.count("@") == 1 and not any(c in v for c in '<>,"( ') for v in values)
        for address in values if simple else (a for _, a in getaddresses(values)):
            if address and address not in found:
                found.append(address)
    return found


def _parts(msg: Message) -> Iterator[Message]:
    yield from msg.walk()


def _mark_returned(report: Report, msg: Message) -> None:
    """The Message-ID and Return-Path of the message a report returns: message/rfc822 (parsed
    already), text/rfc822-headers (searched, not parsed again), or quoted in a text part."""
    for part in _parts(msg):
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                report.returned_message_id = clean(payload[0].get("message-id"), 250)
                report.returned_return_path = clean(payload[0].get("return-path"), 320).strip("<>")
                break
        if kind in ("text/rfc822-headers", "text/global-headers"):
            headers = _decoded(part).decode("utf-8", "replace")
            found = _MESSAGE_ID_LINE.search(headers)
            report.returned_message_id = found.group(1) if found else ""
            found = _RETURN_PATH_LINE.search(headers)
            report.returned_return_path = found.group(1) if found else ""
            break
    if not report.returned_message_id:  # returned inline as text (Exim, qmail, old Sendmail)
        for text in _texts(msg):
            match = _MESSAGE_ID_LINE.search(text)
            if match:
                report.returned_message_id = match.group(1)
                break


def _decoded(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _texts(msg: Message) -> Iterator[str]:
    """The text/plain parts, decoded, each cut at TEXT_SCAN_BYTES (never the HTML)."""
    for part in _parts(msg):
        if part.get_content_type() == "text/plain":
            data = _decoded(part)
            charset = part.get_content_charset() or "utf-8"
            try:
                yield data[:TEXT_SCAN_BYTES].decode(charset, "replace")
            except LookupError:
                yield data[:TEXT_SCAN_BYTES].decode("utf-8", "replace")


def failed_finding(status: str, diagnostic: str, **fields: str) -> Finding:
    """A failed recipient, decided by the outcome table from its Status (and diagnostic)."""
    decision = decide(Stage.DSN, status_reply(status, diagnostic))
    kind = FAILED_KIND.get(decision.verdict, Kind.SOFT_BOUNCE)
    return Finding(kind, status=status, rule=decision.rule, diagnostic=diagnostic, **fields)


def _status(value: object) -> str:
    match = _ENHANCED.search(clean(value))
    return match.group(1) if match else ""


def _dsn(report: Report, msg: Message) -> None:
    blocks: list[Message] = []
    for part in _parts(msg):
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list):
                blocks = [b for b in payload if isinstance(b, Message)]
            break
    if not blocks:
        report.kind, report.problem = Kind.UNPARSED, "delivery-status report without status fields"
        return
    head, recipients = blocks[0], blocks[1:]
    report.reporting_mta = _typed_address(head.get("reporting-mta"))
    report.arrived_at = report.arrived_at or _date(head.get("arrival-date"))
    for block in recipients:
        action = clean(block.get("action")).lower()
        status = _status(block.get("status"))
        where = {"address": _typed_address(block.get("original-recipient"))
                 or _typed_address(block.get("final-recipient")),
                 "remote_mta": _typed_address(block.get("remote-mta"))}
        diagnostic = _typed_address(block.get("diagnostic-code"))
        if action == "delayed":
            report.findings.append(Finding(Kind.DELAYED, status=status, rule="action-delayed",
                                           diagnostic=diagnostic, **where))
        elif action in ("delivered", "relayed", "expanded"):
            report.findings.append(Finding(Kind.DELIVERED, status=status, rule=f"action-{action}",
                                           diagnostic=diagnostic, **where))
        elif action == "failed" and status:
            report.findings.append(failed_finding(status, diagnostic, **where))
        elif action == "failed":  # failed, not saying how: a soft bounce, counted toward N of M
            report.findings.append(Finding(Kind.SOFT_BOUNCE, rule="failed-without-status",
                                           diagnostic=diagnostic, **where))
    if not report.findings:
        report.kind, report.problem = Kind.UNPARSED, "delivery-status report names no recipient with an action"
        return
    report.kind = report.worst().kind
    _mark_returned(report, msg)


def _arf(report: Report, msg: Message) -> None:
    for part in _parts(msg):
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            fields = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(fields, Message):
                feedback = clean(fields.get("feedback-type")).lower() or "abuse"
                address = clean(fields.get("original-rcpt-to")).strip("<>")
                report.reporting_mta = clean(fields.get("reporting-mta") or fields.get("user-agent"))
                report.arrived_at = report.arrived_at or _date(fields.get("arrival-date")
                                                               or fields.get("received-date"))
                report.findings.append(Finding(Kind.COMPLAINT, address=address, rule=f"arf-{feedback}",
                                               diagnostic=f"Feedback-Type: {feedback}"))
            break
    if not report.findings:
        report.kind, report.problem = Kind.UNPARSED, "feedback report without a message/feedback-report part"
        return
    report.kind = Kind.COMPLAINT
    _mark_returned(report, msg)


def _failure_status(line: str) -> str:
    """The failure status (4.x.x, 5.x.x) written on `line`, '' on a quoted header line other than
    Status and Diagnostic-Code: a version number in `X-Mailer: 2.0.13` is no status."""
    header = _HEADER_LINE.match(line)
    if header and header.group(1).lower() not in STATUS_FIELDS:
        return ""
    match = _FAILURE.search(line)
    return match.group(1) if match else ""


def _near_status(texts: list[str], address: str) -> tuple[str, str]:
    """The failure status written on the line of `address` or the two after it, with that line."""
    for text in texts:
        lines = text.splitlines()
        for index, line in enumerate(lines):
            if address.lower() in line.lower():
                for candidate in lines[index:index + 3]:
                    status = _failure_status(candidate)
                    if status:
                        return status, clean(candidate)
    for text in texts:  # a single-recipient bounce may give the status away from the address
        for line in text.splitlines():
            status = _failure_status(line)
            if status:
                return status, clean(line)
    return "", ""


def _detected(report: Report, msg: Message) -> bool:
    """flufl.bounce's detectors, for the bounces that are no RFC 3464 DSN."""
    temporary, permanent = all_failures(msg)
    if not (temporary or permanent):
        return False
    texts = list(_texts(msg))
    for raw in sorted(permanent):
        address = raw.decode("ascii", "replace")
        status, line = _near_status(texts, address)
        if status.startswith("5"):
            report.findings.append(failed_finding(status, line, address=address))
        else:  # a detector's guess without a permanent status is not held against the reader
            report.findings.append(Finding(Kind.SOFT_BOUNCE, address=address, status=status,
                                           rule="detector-without-status", diagnostic=line))
    for raw in sorted(temporary - permanent):
        report.findings.append(Finding(Kind.DELAYED, address=raw.decode("ascii", "replace"),
                                       rule="detector-warning"))
    report.kind = report.worst().kind
    report.reporting_mta = clean(msg.get("from"))
    _mark_returned(report, msg)
    return True


def _is_auto_reply(msg: Message) -> bool:
    auto = clean(msg.get("auto-submitted")).lower()
    if auto and auto != "no":
        return True
    if any(msg.get(name) is not None for name in AUTO_REPLY_HEADERS):
        return True
    precedence = clean(msg.get("precedence") or msg.get("x-precedence")).lower()
    return precedence in AUTO_PRECEDENCE


def _is_unsubscribe(addresses: list[str]) -> bool:
    return any(a.lower().startswith((UNSUBSCRIBE_LOCAL + "+", UNSUBSCRIBE_LOCAL + "@")) for a in addresses)


def read_report(data: bytes, limits: Limits = Limits()) -> Report:
    """What the message `data` (as stored in the mailbox) is and says; never raises on bad input."""
    if len(data) > limits.max_bytes:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()[:32]
        return Report(Kind.UNPARSED, source_id=digest,
                      problem=f"larger than {limits.max_bytes:,} bytes ({len(data):,})")
    try:
        msg = email.message_from_bytes(data)
    except RecursionError:
        return Report(Kind.UNPARSED, source_id="sha256:" + hashlib.sha256(data).hexdigest()[:32],
                      problem="MIME parts nested too deeply to read")
    report = Report(Kind.UNPARSED, source_id=_source_id(msg, data), arrived_at=_date(msg.get("date")),
                    envelope_to=_envelope_to(msg))
    report.problem = _structure_problem(msg, limits)
    if report.problem:
        return report
    try:
        _classify(report, msg)
    except (LookupError, ValueError, TypeError, AttributeError, UnicodeError, RecursionError) as exc:
        report.kind, report.findings = Kind.UNPARSED, []
        report.problem = f"cannot read it: {clean(exc, 120)}"
    return report


def _classify(report: Report, msg: Message) -> None:
    content_type = msg.get_content_type()
    report_type = clean(msg.get_param("report-type", "")).lower() if content_type == "multipart/report" else ""
    if report_type == "delivery-status":
        _dsn(report, msg)
    elif report_type == "feedback-report":
        _arf(report, msg)
    elif report_type == "disposition-notification":  # a read receipt
        report.kind = Kind.AUTO_REPLY
    elif _is_unsubscribe(report.envelope_to):
        report.kind = Kind.UNSUBSCRIBE
        report.findings.append(Finding(Kind.UNSUBSCRIBE, address=clean(msg.get("from")),
                                       rule="mailto", diagnostic=clean(msg.get("subject"), 200)))
    elif _detected(report, msg):
        pass
    elif _is_auto_reply(msg):
        report.kind = Kind.AUTO_REPLY
    else:
        report.problem = "not a delivery report, complaint, auto-reply or unsubscribe"
