"""Reading the rows of a CSV export: which column is what, and each row checked and normalized.

Column names are matched lower-cased, with runs of spaces, '_' and '-' read as one space:
Mailchimp's `Email Address`, `First Name`, `Last Name`, `TAGS`; listmonk's `email`, `name`,
`attributes` (a JSON object); plain `email,name,tags`. Any other named column becomes an attribute
(`Phone Number` -> `phone_number`). A row that cannot be imported becomes a rejection with its line
number and the reason; the import goes on.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import GbaletterError
from ..languages import normalize_language
from .addresses import AddressValidator, email_hash
from .csvfiles import sniff_delimiter, unguarded_cell
from .status import Status
from .values import normalize_name, normalize_tag

EMAIL_COLUMNS = ("email", "email address", "e mail", "e mail address")
_ROLES = {
    "name": ("name", "full name"),
    "first_name": ("first name", "firstname", "fname"),
    "last_name": ("last name", "lastname", "lname"),
    "tags": ("tags", "tag"),
    "attributes": ("attributes",),
    "status": ("status",),
    "joined": ("joined", "created at", "optin time"),
    "source": ("consent source",),
    "language": ("language",),
}
_STATUS_WORDS = {
    Status.ACTIVE: ("active", "subscribed", "enabled", "confirmed"),
    Status.UNCONFIRMED: ("unconfirmed", "pending"),
    Status.UNSUBSCRIBED: ("unsubscribed", "blocklisted", "blacklisted"),
    Status.BOUNCED: ("bounced", "cleaned"),
    Status.COMPLAINED: ("complained",),
}
STATUS_WORDS = {word: status for status, words in _STATUS_WORDS.items() for word in words}
_STATUS_TEXT = {status: status.value for status in Status}  # a dict is quicker than `.value`
# Mailchimp exports each audience status to its own file; these columns tell which one it is.
_MAILCHIMP_STATUS_COLUMNS = {"unsub time": Status.UNSUBSCRIBED, "clean time": Status.BOUNCED}
_TAG_CACHE_SIZE = 10_000


def _header_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


def _attribute_key(name: str) -> str:
    return re.sub(r"\W+", "_", name.strip().lower()).strip("_")


class RowError(Exception):
    """Why one row is rejected."""


class ImportRow(NamedTuple):
    """One row, checked and normalized."""

    line: int
    email: str
    key: bytes
    name: str
    tags: tuple[str, ...]
    attributes: dict[str, Any]
    status: Status
    joined: datetime | None
    source: str
    language: str  # one of the desk's languages; "" when the row does not say


class Rejection(NamedTuple):
    line: int
    reason: str
    fields: list[str]


# The columns a new subscriber is inserted with, in the order of `ParsedChunk.values`.
NEW_ROW_COLUMNS = ("email", "email_hash", "name", "status", "attributes", "consent_source",
                   "created_at", "updated_at", "status_changed_at", "language")
KEY, NAME, STATUS, ATTRIBUTES = 1, 2, 3, 4  # where these are in a row's values


@dataclass
class ParsedChunk:
    """A few thousand rows ready to store (each address once), as they cross the pipe
    from the parser process: plain tuples of strings, bytes and numbers, cheap to pickle.

    `values[i]` is row i as the database driver takes it for a new subscriber (NEW_ROW_COLUMNS:
    JSON as text, times as naive UTC, as text too where `dates_as_text`); `rows[i]` is its line
    number, its tags and the language the row named ("" when none). A batch (one transaction)
    is the chunks up to the one whose `ends_batch` is set.
    """

    values: list[tuple[Any, ...]] = field(default_factory=list)
    rows: list[tuple[int, tuple[str, ...], str]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    duplicates: int = 0  # addresses seen earlier in the same chunk
    last_line: int = 0
    ends_batch: bool = False


@dataclass
class Columns:
    """Where each known field is in the file; every other named column becomes an attribute."""

    header: list[str]
    email: int
    roles: dict[str, int] = field(default_factory=dict)
    extras: list[tuple[int, str]] = field(default_factory=list)
    file_status: Status | None = None

    @classmethod
    def from_header(cls, header: list[str], where: str) -> Columns:
        keys = [_header_key(name) for name in header]
        found = [i for i, key in enumerate(keys) if key in EMAIL_COLUMNS]
        if not found:
            shown = ", ".join(repr(name) for name in header[:8])
            raise GbaletterError(f"{where}: no email column in the header (found {shown}); "
                                 "expected 'email' or 'Email Address'")
        if len(found) > 1:
            raise GbaletterError(f"{where}: more than one email column ({header[found[0]]!r}, "
                                 f"{header[found[1]]!r})")
        columns = cls(header, found[0])
        for i, key in enumerate(keys):
            if i == columns.email or not key:
                continue
            role = next((role for role, names in _ROLES.items() if key in names), None)
            if role is None:
                columns.extras.append((i, _attribute_key(header[i]) or f"column_{i + 1}"))
            elif role in columns.roles:
                raise GbaletterError(f"{where}: column {header[i]!r} appears twice")
            else:
                columns.roles[role] = i
            columns.file_status = columns.file_status or _MAILCHIMP_STATUS_COLUMNS.get(key)
        return columns


def read_records(path: Path) -> Generator[tuple[int, list[str]], None, None]:
    """(first line number, fields) of every record, the header first. UTF-8 with or without BOM."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        first = fh.readline()
        reader = csv.reader(chain([first], fh), delimiter=sniff_delimiter(first))
        line = 1
        try:
            for fields in reader:
                yield line, fields
                line = reader.line_num + 1
        except csv.Error as exc:
            raise GbaletterError(f"{path.name}: line {reader.line_num}: {exc}") from None


class RowParser:
    """Turns records into `ImportRow`s, remembering what rows repeat (domains, tag lists)."""

    def __init__(self, columns: Columns, *, status: Status, extra_tags: Iterable[str], source: str,
                 languages: Sequence[str] = ("en",)):
        self.columns = columns
        self.languages = tuple(languages)
        self._language_of: dict[str, str] = {"": ""}  # a column's few spellings, normalized once
        self.status = columns.file_status or status
        self.extra_tags = tuple(extra_tags)
        self.source = source
        self._normalize = AddressValidator().normalize
        self._tag_lists: dict[str, tuple[str, ...]] = {}
        # What `parse` needs of the columns, looked up once rather than for each row. Where each
        # role's field is; a role the file lacks points past the header, at the empty field
        # `parse` appends to every record (no branch or call per role and row).
        self._width = width = len(columns.header)
        self._email, self._extras = columns.email, columns.extras
        self._padding = [[""] * (width + 1 - count) for count in range(width + 1)]
        self._pick = itemgetter(*(columns.roles.get(role, width) for role in _ROLES))

    def chunks(self, records: Iterable[tuple[int, list[str]]], *, batch_size: int,
               chunk_size: int, dates_as_text: bool) -> Iterator[ParsedChunk]:
        """Parsed rows in batches of `batch_size`, each sent as chunks of at most `chunk_size`
        rows, each address once per chunk (the database tells a repeat from an earlier chunk);
        blank lines are skipped. The last chunk always ends a batch."""
        chunk, pending, seen, in_batch = ParsedChunk(), [], set(), 0
        parse = self.parse  # looked up once: this loop runs for every row
        for line, fields in records:
            if not any(fields):
                continue
            try:
                row = parse(line, fields)
            except RowError as exc:
                chunk.rejections.append(Rejection(line, str(exc), fields))
                continue
            chunk.last_line = line
            if row.key in seen:
                chunk.duplicates += 1
                continue
            seen.add(row.key)
            pending.append(row)
            in_batch += 1
            if in_batch >= batch_size or len(pending) >= chunk_size:
                chunk.ends_batch = in_batch >= batch_size
                in_batch = 0 if chunk.ends_batch else in_batch
                yield self._filled(chunk, pending, dates_as_text)
                chunk, pending, seen = ParsedChunk(), [], set()
        if pending or chunk.rejections or chunk.duplicates or in_batch:
            chunk.ends_batch = True
            yield self._filled(chunk, pending, dates_as_text)

    def _filled(self, chunk: ParsedChunk, rows: list[ImportRow], dates_as_text: bool) -> ParsedChunk:
        chunk.values = new_subscriber_values(rows, datetime.now(UTC), self.languages[0],
                                             dates_as_text=dates_as_text)
        chunk.rows = [(line, tags, language) for line, _, _, _, tags, _, _, _, _, language in rows]
        return chunk

    def parse(self, line: int, fields: list[str]) -> ImportRow:
        """One record, checked and normalized, or the RowError that rejects it (the first of its
        faults in the order of the fields below)."""
        if len(fields) > self._width:
            raise RowError(f"{len(fields)} fields, but the header has {self._width}")
        fields = fields + self._padding[len(fields)]
        raw_email = unguarded_cell(fields[self._email].strip())
        if not raw_email.strip():
            raise RowError("no email address")
        name, first, last, tags, attributes, status, joined, source, language = map(
            str.strip, self._pick(fields))  # in the order of _ROLES
        # the cells an export may have guarded against spreadsheet formulas (`spreadsheet_cell`)
        name, tags, source = unguarded_cell(name), unguarded_cell(tags), unguarded_cell(source)
        try:
            email = self._normalize(raw_email)
            name = normalize_name(name or f"{first} {last}".strip())
        except GbaletterError as exc:
            raise RowError(str(exc)) from None
        extras = {key: value for i, key in self._extras if (value := fields[i].strip())}
        return ImportRow(line, email, email_hash(email), name, self._tags(tags),
                         {**_json_attributes(attributes), **extras} if attributes else extras,
                         self._status(status) if status else self.status,
                         _joined(joined) if joined else None, source or self.source,
                         self._language(language) if language else "")

    def _tags(self, value: str) -> tuple[str, ...]:
        """The row's tags plus the import's; rows repeat a few combinations, so they are cached."""
        tags = self._tag_lists.get(value)
        if tags is None:
            try:
                names = [normalize_tag(tag) for tag in _split_tags(value)]
            except GbaletterError as exc:
                raise RowError(str(exc)) from None
            tags = tuple(dict.fromkeys([*names, *self.extra_tags]))
            if len(self._tag_lists) >= _TAG_CACHE_SIZE:
                self._tag_lists.clear()
            self._tag_lists[value] = tags
        return tags

    def _language(self, value: str) -> str:
        language = self._language_of.get(value)
        if language is None:
            try:
                language = normalize_language(value, self.languages)
            except GbaletterError as exc:
                raise RowError(str(exc)) from None
            if len(self._language_of) >= _TAG_CACHE_SIZE:
                self._language_of = {"": ""}
            self._language_of[value] = language
        return language

    def _status(self, word: str) -> Status:
        try:
            return STATUS_WORDS[word.lower()]
        except KeyError:
            raise RowError(f"unknown status {word!r} (known: {', '.join(STATUS_WORDS)})") from None


def _split_tags(value: str) -> list[str]:
    """Tags as `a, b`, or Mailchimp's `"a","b"`."""
    if '"' not in value:
        return [tag for tag in value.split(",") if tag.strip()]
    return [tag for tag in next(csv.reader([value], skipinitialspace=True)) if tag.strip()]


def _json_attributes(value: str) -> dict[str, Any]:
    if not value:
        return {}
    try:
        attributes = json.loads(value)
    except json.JSONDecodeError as exc:
        raise RowError(f"attributes are not valid JSON ({exc.msg} at character {exc.pos + 1})") from None
    if not isinstance(attributes, dict):
        raise RowError("attributes must be a JSON object ({...})")
    return attributes


def new_subscriber_values(rows: Iterable[ImportRow], now: datetime, default_language: str, *,
                          dates_as_text: bool) -> list[tuple[Any, ...]]:
    """The rows as the database driver takes them for new subscribers (NEW_ROW_COLUMNS), as
    SQLAlchemy's bind processors would make them (tested against them): JSON as text, times as
    naive UTC, and as SQLite's text where `dates_as_text`. Rows are unpacked rather than read by
    field name: this runs for every row of an import."""
    when = _text_time if dates_as_text else _naive_utc
    at = when(now)
    return [(email, key, name, _STATUS_TEXT[status], _json_text(attributes), source,
             created, at, created, language or default_language)
            for _, email, key, name, _, attributes, status, joined, source, language in rows
            for created in (when(joined) if joined else at,)]


def _json_text(attributes: dict[str, Any]) -> str:
    """`json.dumps(attributes)`, the same text, in a third of the time for the usual object of
    strings (the C string encoder json.dumps uses, with its default separators); anything else
    (numbers, lists, from an `attributes` column) goes through json.dumps."""
    try:
        return "{" + ", ".join([f"{encode_basestring_ascii(key)}: {encode_basestring_ascii(value)}"
                                for key, value in attributes.items()]) + "}"
    except TypeError:  # a key or value that is not a string
        return json.dumps(attributes)


def _naive_utc(when: datetime) -> datetime:
    """A time as `UtcDateTime` hands it to the driver: UTC, without the zone."""
    return when.astimezone(UTC).replace(tzinfo=None)


def _text_time(when: datetime) -> str:
    """A time as SQLAlchemy's SQLite dialect stores a `UtcDateTime` (tested against it)."""
    moment = _naive_utc(when)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {moment.hour:02d}:"
            f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}")


def _joined(value: str) -> datetime:
    """A sign-up time as exported (ISO 8601; Mailchimp and listmonk write UTC)."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(f"unreadable sign-up time {value!r} (expected e.g. 2019-06-01 10:22:33)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
