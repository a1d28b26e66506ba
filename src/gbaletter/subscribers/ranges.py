"""Segments as index ranges: the ids of a tag's or an attribute value's subscribers, in id order,
combined without reading the subscribers' rows.

A segment whose top-level `and` holds a tag or an attribute comparison (`tag:technology and not
tag:finance and attr.lang = "en"`) is answered from the indexes alone: the ranges its parts
name, less the few subscribers who may not be mailed (not active, paused, suppressed), which
partial indexes list. How the ranges are combined is the one thing that differs by database
(docs/benchmarks.md has the measurements and the plans):

- SQLite runs a compound SELECT with ORDER BY as merges of its sorted inputs, one pass over
  each range: `A INTERSECT B EXCEPT C ... ORDER BY 1`.
- PostgreSQL answers that with a hash of every input; it runs the same as semi- and anti-joins
  (`A WHERE id IN (B) AND NOT EXISTS (C)`) faster, with merge or hash joins over index-only scans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (ColumnElement, CompoundSelect, Select, except_, exists, intersect,
                        literal_column, select, union_all)
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.selectable import SelectStatementGrouping

from .models import (ATTRIBUTE_KEY_INDEXED, ATTRIBUTE_VALUE_INDEXED, Subscriber, Suppression,
                     Tag, subscriber_attributes, subscriber_tags)


@dataclass(frozen=True)
class IdRange:
    """The subscriber ids of one index range: `column` (a subscriber id) where `conditions`."""

    column: ColumnElement[int]
    conditions: tuple[ColumnElement[bool], ...]

    def ids(self) -> Select[int]:
        return select(self.column.label("id")).where(*self.conditions)

    def holds(self, subscriber_id: ColumnElement[int] | QueryableAttribute[int]) -> ColumnElement[bool]:
        """Whether the range holds `subscriber_id` (one probe of the index)."""
        return exists().where(self.column == subscriber_id, *self.conditions)


def tag_id(name: str):
    return select(Tag.id).where(Tag.name == name.strip().lower()).scalar_subquery()


def tag_range(name: str) -> IdRange:
    links = subscriber_tags.alias()  # never correlated with a subscriber_tags outside
    return IdRange(links.c.subscriber_id, (links.c.tag_id == tag_id(name),))


def attribute_range(key: str, values: Sequence[str]) -> IdRange | None:
    """The subscribers whose top-level attribute `key` is one of `values` (as text); None when
    the index cannot say (a key or value longer than it keeps: the JSON is read instead)."""
    if len(key) > ATTRIBUTE_KEY_INDEXED or any(len(v) > ATTRIBUTE_VALUE_INDEXED for v in values):
        return None
    entries = subscriber_attributes.alias()
    value = entries.c.value == values[0] if len(values) == 1 else entries.c.value.in_(values)
    return IdRange(entries.c.subscriber_id, (entries.c.key == key, value))


def not_mailable(now: datetime, include_suppressed: bool) -> Select[int]:
    """The ids of subscribers a segment never includes: not active and, unless
    `include_suppressed`, paused or suppressed. Few, and each part an index range (the status
    and pause conditions are written as the partial indexes in models.py state them)."""
    parts = [select(Subscriber.id).where(Subscriber.status != literal_column("'active'"))]
    if not include_suppressed:
        parts += [select(Subscriber.id).where(Subscriber.paused_until > now),
                  select(Subscriber.id).where(Subscriber.email_hash.in_(select(Suppression.email_hash)))]
    return select(union_all(*parts).subquery().c.id)


def members(dialect: str, ranges: Sequence[IdRange], excluded: Sequence[IdRange],
            not_mailed: Select[int] | None = None) -> Select[int]:
    """The ids in every one of `ranges` (at least one), in none of `excluded` and not among
    `not_mailed` (few: a list made once, each id looked up in it), as a select of one column,
    `id`."""
    if dialect == "sqlite":
        merged = _merged(ranges, excluded).subquery("members")
        column: ColumnElement[int] = merged.c.id
        query = select(column)
    else:
        first = ranges[0]
        query = (select(first.column.label("id"))
                 .where(*first.conditions, *(first.column.in_(part.ids()) for part in ranges[1:]),
                        *(~part.holds(first.column) for part in excluded)))
        column = first.column
    return query if not_mailed is None else query.where(column.not_in(not_mailed))


def _merged(ranges: Sequence[IdRange], excluded: Sequence[IdRange]) -> CompoundSelect | Select[int]:
    """`A INTERSECT B ... EXCEPT C ... ORDER BY 1`, written flat: SQLite takes no parentheses
    inside a compound SELECT, and merges only what is one (a compound in a subquery of another
    took 0.27 s where the flat one takes 0.11). Its operators have one precedence and associate
    to the left, which is the order they are applied here."""
    merged: CompoundSelect | Select[int] = ranges[0].ids()
    steps = [(intersect, part) for part in ranges[1:]] + [(except_, part) for part in excluded]
    for operator, part in steps:
        merged = operator(merged, part.ids())
        left = merged.selects[0]
        if isinstance(left, SelectStatementGrouping):
            merged.selects[0] = left.element  # unwrap the parentheses SQLAlchemy puts around it
    return merged.order_by(literal_column("1"))
