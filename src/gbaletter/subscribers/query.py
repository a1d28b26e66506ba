"""The segment language: a tokenizer and a recursive-descent parser producing SQLAlchemy conditions.

    expression := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" or ")" | "all" | term
    term       := ("tag" | "domain" | "status" | "language") ":" value
                | field ("=" | "!=" | "<" | "<=" | ">" | ">=") value
                | field ["not"] "in" "(" value ("," value)* ")"
    field      := "name" | "domain" | "status" | "language" | "joined" | "attr." key ("." key)*
    value      := word | "quoted string" | 'quoted string'

Values are bound parameters, never pasted into SQL. Every condition is true or false, never NULL
(a missing attribute compares as "not equal"), so `not` means what it says. Errors name the
1-based column of the offending token. docs/segments.md is the user's guide.

The parts of a top-level `and` that a tag or a top-level attribute decides are also given as
index ranges (`ranges.py`), which a segment combines without reading the subscribers' rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true
from sqlalchemy.orm import QueryableAttribute

from ..errors import GbaletterError
from ..languages import LANGUAGES, normalize_language
from .models import Status, Subscriber
from .ranges import IdRange, attribute_range, tag_range

KEYWORDS = frozenset({"and", "or", "not", "in", "all"})
FIELDS = ("tag", "domain", "status", "language", "name", "joined", "attr.KEY")
FIELD_NAMES = frozenset(FIELDS[:-1])
_COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
_SET_OPS = ("=", "!=", "in", "not in")  # what an attribute's index range answers
# Limits that keep every expression within what the databases take (SQLite refuses an expression
# tree deeper than 1000: a members query fails from about 490 conditions, so 600 `or`s or a
# `domain in` list of 999 values did) and Python's recursion far away; no real segment comes
# near them. docs/segments.md lists them.
MAX_NESTING = 20      # parentheses and `not`s inside one another
MAX_CONDITIONS = 300  # conditions in one expression, each value of an `in (...)` list one
MAX_VALUES = 200      # values in one `in (...)` list
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(9998, 12, 31)  # for `joined`

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<word>[\w.@+\-]+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|!=|[=<>:(),])
""", re.VERBOSE)


class SegmentError(GbaletterError):
    """A segment expression that cannot be understood; the message names the column."""


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "string", "op" or "end"
    text: str  # the value: a string token without its quotes and escapes
    column: int

    def describe(self) -> str:
        return "the end of the expression" if self.kind == "end" else repr(self.text)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            if char in "\"'":
                raise SegmentError(f"column {position + 1}: unterminated string, missing closing {char}")
            raise SegmentError(f"column {position + 1}: unexpected character {char!r}")
        kind = match.lastgroup
        assert kind is not None
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", match.group()[1:-1])
            tokens.append(Token(kind, value, position + 1))
        elif kind != "space":
            tokens.append(Token(kind, match.group(), position + 1))
        position = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


@dataclass(frozen=True)
class ParsedSegment:
    """What a segment selects. Without `ranges`: the subscribers whose row meets `condition`.
    With them: the subscribers in every one of `ranges` and in none of `excluded` (the parts of
    the top-level `and` that are index ranges) whose row meets `condition`, the other parts
    (None when there are none: no row need be read)."""

    condition: ColumnElement[bool] | None
    names_status: bool  # the expression filters on status itself: no implicit "active only"
    ranges: tuple[IdRange, ...] = ()
    excluded: tuple[IdRange, ...] = ()


def parse_segment(text: str, timezone: tzinfo) -> ParsedSegment:
    """Parse `text`; dates in it are days in `timezone`. Raises `SegmentError`."""
    if not text.strip():
        raise SegmentError("empty segment expression (write `all` for everyone)")
    return _Parser(tokenize(text), timezone).parse()


class _Parser:
    def __init__(self, tokens: Sequence[Token], timezone: tzinfo):
        self.tokens = tokens
        self.position = 0
        self.timezone = timezone
        self.names_status = False
        self.negated = False  # inside an odd number of `not`s
        # id of a condition -> the index range that decides it, and whether it holds inside it
        self.ranges: dict[int, tuple[IdRange, bool]] = {}
        self.nesting = 0
        self.conditions = 0

    # -- token helpers ---------------------------------------------------------------------
    @property
    def current(self) -> Token:
        return self.tokens[self.position]

    def advance(self) -> Token:
        token = self.current
        self.position += 1
        return token

    def at_keyword(self, keyword: str) -> bool:
        return self.current.kind == "word" and self.current.text.lower() == keyword

    def at_op(self, op: str) -> bool:
        return self.current.kind == "op" and self.current.text == op

    def fail(self, message: str, token: Token | None = None) -> SegmentError:
        token = token or self.current
        return SegmentError(f"column {token.column}: {message}")

    def expect_op(self, op: str, after: str) -> None:
        if not self.at_op(op):
            raise self.fail(f"expected '{op}' {after}, found {self.current.describe()}")
        self.advance()

    def value(self, after: str) -> Token:
        if self.current.kind not in ("word", "string"):
            raise self.fail(f"expected a value {after}, found {self.current.describe()}")
        return self.advance()

    # -- grammar ---------------------------------------------------------------------------
    def parse(self) -> ParsedSegment:
        groups = self.or_groups()
        if self.current.kind != "end":
            raise self.fail(f"expected 'and', 'or' or the end, found {self.current.describe()}")
        if len(groups) == 1:
            ranges = [self.ranges[id(part)] for part in groups[0] if id(part) in self.ranges]
            if any(inside for _, inside in ranges):
                rest = [part for part in groups[0] if id(part) not in self.ranges]
                return ParsedSegment(_all(rest) if rest else None, self.names_status,
                                     tuple(found for found, inside in ranges if inside),
                                     tuple(found for found, inside in ranges if not inside))
        return ParsedSegment(_any(groups), self.names_status)

    def or_groups(self) -> list[list[ColumnElement[bool]]]:
        """The operands of `or`, each the list of operands of an `and`."""
        groups = [self.and_parts()]
        while self.at_keyword("or"):
            self.advance()
            groups.append(self.and_parts())
        return groups

    def and_parts(self) -> list[ColumnElement[bool]]:
        parts = [self.unary()]
        while self.at_keyword("and"):
            self.advance()
            parts.append(self.unary())
        return parts

    def unary(self) -> ColumnElement[bool]:
        if self.at_keyword("not") or self.at_op("("):
            self.nesting += 1
            if self.nesting > MAX_NESTING:
                raise self.fail(f"more than {MAX_NESTING} parentheses and 'not's inside one another")
            try:
                return self.nested()
            finally:
                self.nesting -= 1
        if self.at_keyword("all"):
            self.advance()
            return true()
        return self.term()

    def nested(self) -> ColumnElement[bool]:
        """`not` and `( ... )`, which `unary` counts against MAX_NESTING."""
        if self.at_keyword("not"):
            self.advance()
            self.negated = not self.negated
            operand = self.unary()
            self.negated = not self.negated
            negation = not_(operand)
            if id(operand) in self.ranges:
                found, inside = self.ranges[id(operand)]
                self.ranges[id(negation)] = (found, not inside)
            return negation
        opening = self.advance()  # '('
        inner = _any(self.or_groups())
        if not self.at_op(")"):
            raise self.fail(f"expected ')' to close the '(' at column {opening.column}, "
                            f"found {self.current.describe()}")
        self.advance()
        return inner

    def term(self) -> ColumnElement[bool]:
        field = self.current
        self.count_condition()
        if field.kind != "word" or field.text.lower() in KEYWORDS:
            raise self.fail(f"expected a condition such as tag:NAME, found {field.describe()}")
        self.advance()
        name = field.text.lower()
        if name.startswith("attr."):
            keys = field.text[len("attr."):].split(".")
            if not all(keys):
                raise self.fail("expected attr.KEY, e.g. attr.lang", field)
            return self.comparison(field, self._attribute(keys))
        if name == "tag":
            self.expect_op(":", "after 'tag' (tag:NAME)")
            name = self.value("after 'tag:'").text
            condition = _has_tag(name, self.negated)
            self.ranges[id(condition)] = (tag_range(name), True)
            return condition
        builders: dict[str, Callable[[Token, str, list[Token]], ColumnElement[bool]]] = {
            "domain": _domain, "status": self._status, "language": _language, "name": _name,
            "joined": self._joined}
        if name not in builders:
            raise self.fail(f"unknown field '{field.text}' (fields: {', '.join(FIELDS)})", field)
        if name in ("domain", "status", "language") and self.at_op(":"):
            self.advance()
            return builders[name](field, "=", [self.value(f"after '{field.text}:'")])
        return self.comparison(field, builders[name])

    def comparison(self, field: Token,
                   build: Callable[[Token, str, list[Token]], ColumnElement[bool]]
                   ) -> ColumnElement[bool]:
        after = f"after '{field.text}'"
        if self.current.kind == "op" and self.current.text in _COMPARISONS:
            op = self.advance().text
            return build(field, op, [self.value(f"after '{op}'")])
        negated = self.at_keyword("not")
        if negated:
            self.advance()
        if not self.at_keyword("in"):
            expected = "'in'" if negated else "one of = != < <= > >= in"
            raise self.fail(f"expected {expected} {after}, found {self.current.describe()}")
        self.advance()
        self.expect_op("(", "after 'in'")
        values = [self.value("in the list")]
        while self.at_op(","):
            self.advance()
            values.append(self.value("after ','"))
            if len(values) > MAX_VALUES:
                raise self.fail(f"more than {MAX_VALUES} values in one list", values[-1])
            self.count_condition(values[-1])
        self.expect_op(")", "to close the list")
        return build(field, "not in" if negated else "in", values)

    def count_condition(self, token: Token | None = None) -> None:
        """Count a condition (a value of a list is one too: `domain in` makes one per value)."""
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self.fail(f"more than {MAX_CONDITIONS} conditions (a value in a list counts as "
                            "one); give these people a tag instead (subscribers tag, or import "
                            "with --tag)", token)

    # -- fields that need the parser's state ------------------------------------------------
    def _attribute(self, keys: list[str]) -> Callable[[Token, str, list[Token]], ColumnElement[bool]]:
        """`_attribute_builder`'s conditions; a top-level key compared with `=`, `!=`, `in` or
        `not in` is also an index range (the comparisons of text stay with the JSON)."""
        build = _attribute_builder(keys, self.negated)

        def build_and_find_range(field: Token, op: str, values: list[Token]) -> ColumnElement[bool]:
            condition = build(field, op, values)
            found = attribute_range(keys[0], _texts(values)) if len(keys) == 1 and op in _SET_OPS else None
            if found is not None:
                self.ranges[id(condition)] = (found, op in ("=", "in"))
            return condition

        return build_and_find_range

    def _status(self, field: Token, op: str, values: list[Token]) -> ColumnElement[bool]:
        self.names_status = True
        statuses = []
        for token in values:
            try:
                statuses.append(Status(token.text.lower()))
            except ValueError:
                raise self.fail(f"unknown status '{token.text}' "
                                f"(statuses: {', '.join(s.value for s in Status)})", token) from None
        return _compare(Subscriber.status, op, statuses)

    def _joined(self, field: Token, op: str, values: list[Token]) -> ColumnElement[bool]:
        if op.endswith("in"):
            raise self.fail("'joined' compares with = != < <= > >= and a date", field)
        day = values[0]
        try:
            when = date.fromisoformat(day.text)
        except ValueError:
            raise self.fail(f"expected a date YYYY-MM-DD after '{op}', found {day.describe()}",
                            day) from None
        if not EARLIEST_DAY <= when <= LATEST_DAY:
            raise self.fail(f"'joined' takes a date from {EARLIEST_DAY} to {LATEST_DAY}, "
                            f"found {day.describe()}", day)
        start = datetime.combine(when, time(), self.timezone)
        end = start + timedelta(days=1)
        column = Subscriber.created_at
        return {"=": and_(column >= start, column < end), "!=": or_(column < start, column >= end),
                "<": column < start, "<=": column < end, ">": column >= end,
                ">=": column >= start}[op]


def _all(parts: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return true() if not parts else parts[0] if len(parts) == 1 else and_(*parts)


def _any(groups: list[list[ColumnElement[bool]]]) -> ColumnElement[bool]:
    conditions = [_all(group) for group in groups]
    return conditions[0] if len(conditions) == 1 else or_(*conditions)


def _compare(column: ColumnElement[Any] | QueryableAttribute[Any], op: str,
             values: Sequence[object]) -> ColumnElement[bool]:
    if op == "in":
        return column.in_(values)
    if op == "not in":
        return column.not_in(values)
    value = values[0]
    return {"=": column == value, "!=": column != value, "<": column < value,
            "<=": column <= value, ">": column > value, ">=": column >= value}[op]


def _texts(values: list[Token]) -> list[str]:
    return [token.text for token in values]


def _has_tag(name: str, negated: bool) -> ColumnElement[bool]:
    """`id IN (the tag's subscribers)`, which drives the query through the tag's index; under
    `not`, a per-row EXISTS probe, which spares building the whole list of ids to exclude."""
    links = tag_range(name)
    return links.holds(Subscriber.id) if negated else Subscriber.id.in_(links.ids())


def _domain(field: Token, op: str, values: list[Token]) -> ColumnElement[bool]:
    if op not in ("=", "!=", "in", "not in"):
        raise SegmentError(f"column {field.column}: 'domain' compares with = != in or domain:NAME")
    matches = or_(false(), *(Subscriber.email.endswith("@" + token.text.lower(), autoescape=True)
                             for token in values))
    return not_(matches) if op in ("!=", "not in") else matches


def _language(field: Token, op: str, values: list[Token]) -> ColumnElement[bool]:
    """The subscriber's language; any spelling gbaletter reads (`zh-HK` is `zh-Hant`)."""
    if op not in ("=", "!=", "in", "not in"):
        raise SegmentError(f"column {field.column}: 'language' compares with = != in or language:TAG")
    tags = []
    for token in values:
        try:
            tags.append(normalize_language(token.text, list(LANGUAGES)))
        except GbaletterError:
            raise SegmentError(f"column {token.column}: unknown language '{token.text}' "
                               f"(languages: {', '.join(LANGUAGES)})") from None
    return _compare(Subscriber.language, op, tags)


def _name(field: Token, op: str, values: list[Token]) -> ColumnElement[bool]:
    return _compare(Subscriber.name, op, _texts(values))


def _attribute_builder(keys: list[str], negated: bool
                       ) -> Callable[[Token, str, list[Token]], ColumnElement[bool]]:
    """Attributes compare as text; a subscriber without the attribute matches only `!=` and
    `not in`.

    A missing attribute is NULL, and NULL compares as neither true nor false. Outside any `not`
    that already reads as false; under `not` (and for `!=`, `not in`) COALESCE makes it false
    (true), with one JSON lookup per row.
    """
    path = keys[0] if len(keys) == 1 else tuple(keys)
    column = Subscriber.attributes[path].as_string()

    def build(field: Token, op: str, values: list[Token]) -> ColumnElement[bool]:
        condition = _compare(column, op, _texts(values))
        if op in ("!=", "not in"):
            return func.coalesce(condition, true())
        return func.coalesce(condition, false()) if negated else condition

    return build
