"""Saved segments, and the selection of a segment's members for counting, listing and sending.

A segment's members are given as a `Select` of subscriber ids, so callers can count them, stream
them or join them to their own tables (the sender's delivery journal) without loading them.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Select, func, or_, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..errors import GbaletterError
from .models import Segment, Status, Subscriber, Suppression, Tag, subscriber_tags
from .query import FIELD_NAMES, KEYWORDS, ParsedSegment, parse_segment, tokenize
from .ranges import members, not_mailable

SEGMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _timezone(session: Session):
    return session.info.get("timezone", UTC)


def _is_name(text: str) -> bool:
    """Whether `text` can only be a segment's name: one word that is no keyword or field."""
    word = text.lower()
    return (SEGMENT_NAME.fullmatch(text) is not None and word not in KEYWORDS
            and word not in FIELD_NAMES and not word.startswith("attr."))


def check_segment_name(name: str) -> str:
    if not _is_name(name):
        raise GbaletterError(f"invalid segment name {name!r}: use up to 64 letters, digits, "
                             "'-', '_' and '.', not a keyword or field of the segment language")
    return name


def find_segment(session: Session, name: str) -> Segment | None:
    return session.scalars(select(Segment).where(Segment.name == name)).one_or_none()


def require_segment(session: Session, name: str) -> Segment:
    segment = find_segment(session, name)
    if segment is None:
        raise GbaletterError(f"no segment named {name!r} (`segments list` shows them)")
    return segment


def parse_expression(session: Session, expression: str, where: str = "") -> ParsedSegment:
    """Parse with the session's time zone; `where` prefixes errors (e.g. the segment's name)."""
    try:
        return parse_segment(expression, _timezone(session))
    except GbaletterError as exc:
        shown = expression if len(expression) <= 120 else expression[:117] + "..."
        raise type(exc)(f"{where or 'segment'}: {exc} in: {shown}") from None


def save_segment(session: Session, name: str, expression: str, *,
                 replace: bool = False) -> Segment:
    """Save a named segment; the expression is checked now, not when it is first used."""
    check_segment_name(name)
    parse_expression(session, expression)
    now = utcnow()
    segment = find_segment(session, name)
    if segment is None:
        segment = Segment(name=name, expression=expression, created_at=now, updated_at=now)
        session.add(segment)
    elif not replace:
        raise GbaletterError(f"segment {name!r} exists ({segment.expression}); "
                             "pass --replace to change it")
    else:
        segment.expression, segment.updated_at = expression, now
    session.flush()
    return segment


def list_segments(session: Session) -> list[Segment]:
    return list(session.scalars(select(Segment).order_by(Segment.name)))


def remove_segment(session: Session, name: str) -> None:
    session.delete(require_segment(session, name))


def segment_filter(session: Session, expr_or_name: str, *,
                   include_suppressed: bool = False) -> Select[int]:
    """The ids of a segment's members: a saved segment's name, or an expression.

    Members are active subscribers unless the expression names a status (`status:unconfirmed`).
    Suppressed addresses and paused subscribers (until their pause ends) are always left out, so
    what this selects may be mailed now; admin views pass `include_suppressed=True` to see exactly
    what the expression says.
    """
    if _is_name(expr_or_name):
        saved = require_segment(session, expr_or_name)
        parsed = parse_expression(session, saved.expression, f"segment {saved.name!r}")
    else:
        parsed = parse_expression(session, expr_or_name)
    dialect = session.get_bind().dialect.name
    if parsed.ranges and parsed.condition is None and not parsed.names_status:
        # the whole segment from indexes (docs/segments.md): no subscriber's row is read
        return members(dialect, parsed.ranges, parsed.excluded, not_mailable(utcnow(), include_suppressed))
    query = select(Subscriber.id)
    if parsed.ranges:
        query = query.where(Subscriber.id.in_(members(dialect, parsed.ranges, parsed.excluded)))
    if parsed.condition is not None:
        query = query.where(parsed.condition)
    if not parsed.names_status:
        query = query.where(Subscriber.status == Status.ACTIVE)
    if not include_suppressed:
        query = query.where(Subscriber.email_hash.not_in(select(Suppression.email_hash)),
                            or_(Subscriber.paused_until.is_(None), Subscriber.paused_until <= utcnow()))
    return query


def why_nobody(session: Session, expr_or_name: str) -> str:
    """Why a segment selects nobody, for the one line that refuses to send to it: each tag it
    names that nobody has, with the nearest tags that exist (a typo: `tag:technolgy`)."""
    expression = (require_segment(session, expr_or_name).expression if _is_name(expr_or_name)
                  else expr_or_name)
    tokens = tokenize(expression)
    named = [tokens[i + 2].text.strip().lower() for i in range(len(tokens) - 2)
             if tokens[i].kind == "word" and tokens[i].text.lower() == "tag" and tokens[i + 1].text == ":"]
    known = list(session.scalars(select(Tag.name).order_by(Tag.name)))
    reasons = []
    for tag in dict.fromkeys(named):
        if tag not in known:
            near = difflib.get_close_matches(tag, known, n=3, cutoff=0.6)
            reasons.append(f"no subscriber has the tag '{tag}'" + (
                f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else
                f" (known tags: {', '.join(known[:10]) or 'none yet'})"))
    shown = expr_or_name if expr_or_name == expression else f"{expr_or_name} ({expression})"
    return f"segment {shown} matches nobody who may be mailed" + (
        ": " + "; ".join(reasons) if reasons else " (no active, unsuppressed subscriber fits it)")


def count_members(session: Session, ids: Select[int]) -> int:
    return session.scalar(select(func.count()).select_from(ids.subquery())) or 0


class Member(NamedTuple):
    """One subscriber as read in bulk: plain values, no ORM object to keep in memory."""

    id: int
    email: str
    name: str
    status: Status
    attributes: dict[str, Any]
    tags: tuple[str, ...]
    consent_source: str
    created_at: datetime
    language: str


_TABLE = Subscriber.__table__
# Table columns, not ORM attributes: the rows then skip the ORM's loading machinery.
_MEMBER_COLUMNS = (_TABLE.c.id, _TABLE.c.email, _TABLE.c.name, _TABLE.c.status,
                   _TABLE.c.attributes, _TABLE.c.consent_source, _TABLE.c.created_at, _TABLE.c.language)


def stream_members(session: Session, ids: Select[int] | None = None, *,
                   with_tags: bool = True, limit: int | None = None,
                   chunk_size: int = 2000) -> Iterator[Member]:
    """Members in id order (all subscribers when `ids` is None), read `chunk_size` at a time.

    Memory stays flat however many there are. Use a `Database.reader()` session for long streams.
    """
    # (cast: SQLAlchemy types a select of table columns as rows of unknown length)
    query = cast("Select[int, str, str, Status, dict[str, object], str, datetime, str]",
                 select(*_MEMBER_COLUMNS)).order_by(_TABLE.c.id).limit(limit)
    if ids is not None:
        query = query.where(_TABLE.c.id.in_(ids))
    connection = session.connection()
    result = connection.execution_options(yield_per=chunk_size).execute(query)
    no_tags: tuple[str, ...] = ()
    for rows in result.partitions():
        tags = _tags_of(connection, [row[0] for row in rows]) if with_tags else {}
        for id_, email, name, status, attributes, source, created_at, language in rows:
            yield Member(id_, email, name, status, attributes, tags.get(id_, no_tags), source,
                         created_at, language)


def _tags_of(connection: Connection, ids: list[int]) -> dict[int, tuple[str, ...]]:
    tags: dict[int, list[str]] = defaultdict(list)
    query = (cast("Select[int, str]", select(subscriber_tags.c.subscriber_id, Tag.__table__.c.name))
             .join(Tag, Tag.id == subscriber_tags.c.tag_id)
             .where(subscriber_tags.c.subscriber_id.in_(ids)).order_by(Tag.__table__.c.name))
    for subscriber_id, name in connection.execute(query):
        tags[subscriber_id].append(name)
    return {subscriber_id: tuple(names) for subscriber_id, names in tags.items()}
