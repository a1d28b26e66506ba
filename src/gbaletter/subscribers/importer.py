"""Importing subscribers from CSV exports (Mailchimp, listmonk, or plain `email,name,tags`).

Rows are stored in batches, each its own transaction: a crash or Ctrl-C keeps the batches already
committed and loses only the current one, and running the same import again is safe, because a
row for an address already on the list only adds what is new (tags, attributes, a name).

Per row the outcome is one of: added; updated (already on the list, the row brought something
new); duplicate (already on the list or earlier in the file, nothing new); suppressed (the address
is on the suppression list, or the row itself says unsubscribed/bounced/complained); rejected
(written with its line number and the reason to the rejects file). The first occurrence of an
address in the file wins; later ones count as duplicates.

Speed (1,000,000 rows in well under 30 s): Core statements, not ORM objects; one query per batch
to find existing and suppressed addresses; `AddressValidator` for addresses.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from ..db import Database, utcnow
from ..errors import GbaletterError
from .addresses import AddressValidator, InvalidAddress, email_hash
from .csvfiles import atomic_text_file, check_text_file, sniff_delimiter
from .models import Status, Subscriber, Suppression, Tag, subscriber_tags
from .service import change_status, normalize_name, normalize_tag

BATCH_SIZE = 5000

# Header names, compared lower-cased with runs of spaces, '_' and '-' read as one space.
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
}
_STATUS_WORDS = {
    Status.ACTIVE: ("active", "subscribed", "enabled", "confirmed"),
    Status.UNCONFIRMED: ("unconfirmed", "pending"),
    Status.UNSUBSCRIBED: ("unsubscribed", "blocklisted", "blacklisted"),
    Status.BOUNCED: ("bounced", "cleaned"),
    Status.COMPLAINED: ("complained",),
}
STATUS_WORDS = {word: status for status, words in _STATUS_WORDS.items() for word in words}
# Mailchimp exports each audience status to its own file; these columns tell which one it is.
_MAILCHIMP_STATUS_COLUMNS = {"unsub time": Status.UNSUBSCRIBED, "clean time": Status.BOUNCED}


def _header_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


def _attribute_key(name: str) -> str:
    return re.sub(r"\W+", "_", name.strip().lower()).strip("_")


class RowError(Exception):
    """Why one row is rejected (the import goes on)."""


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    duplicates: int = 0
    suppressed: int = 0
    rejected: int = 0
    lines_done: int = 0
    lines_total: int = 0
    rejects_file: Path | None = None
    dry_run: bool = False

    @property
    def rows(self) -> int:
        return self.added + self.updated + self.duplicates + self.suppressed + self.rejected

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "duplicates": self.duplicates,
                "suppressed": self.suppressed, "rejected": self.rejected, "rows": self.rows,
                "rejects_file": str(self.rejects_file) if self.rejects_file else None,
                "dry_run": self.dry_run}


@dataclass(slots=True)
class ImportRow:
    line: int
    email: str
    key: str
    name: str
    tags: list[str]
    attributes: dict[str, Any]
    status: Status
    joined: datetime | None
    source: str


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
            role = next((role for role, names in _ROLES.items() if key in names), None)
            if i == columns.email or not key:
                continue
            if role is not None:
                if role in columns.roles:
                    raise GbaletterError(f"{where}: column {header[i]!r} appears twice")
                columns.roles[role] = i
            else:
                columns.extras.append((i, _attribute_key(header[i]) or f"column_{i + 1}"))
            columns.file_status = columns.file_status or _MAILCHIMP_STATUS_COLUMNS.get(key)
        return columns


class CsvImport:
    """One import of one file; `report` holds the counts so far (committed, unless dry run)."""

    def __init__(self, database: Database, path: Path, *, tags: Iterable[str] = (),
                 status: Status = Status.ACTIVE, dry_run: bool = False,
                 rejects_path: Path | None = None, actor: str = "",
                 batch_size: int = BATCH_SIZE):
        if status not in (Status.ACTIVE, Status.UNCONFIRMED):
            raise GbaletterError(f"--status must be active or unconfirmed, not {status}")
        self.database = database
        self.path = Path(path)
        self.extra_tags = [normalize_tag(tag) for tag in tags]
        self.status = status
        self.dry_run = dry_run
        self.rejects_path = rejects_path or self.path.with_name(f"{self.path.stem}.rejected.csv")
        self.actor = actor or f"import {self.path.name}"
        self.batch_size = batch_size
        self.report = ImportReport(dry_run=dry_run)
        self._validator = AddressValidator()
        self._tag_ids: dict[str, int] = {}
        self._rejects: Any = None  # csv writer, opened at the first rejected row

    # -- reading -----------------------------------------------------------------------------
    def _rows(self) -> Iterator[tuple[int, list[str]]]:
        """(first line number, fields) of every data row."""
        with open(self.path, encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
            reader = csv.reader(chain([first], fh), delimiter=sniff_delimiter(first))
            line = 1
            try:
                for fields in reader:
                    yield line, fields
                    line = reader.line_num + 1
            except csv.Error as exc:
                raise GbaletterError(f"{self.path.name}: line {reader.line_num}: {exc}") from None

    def _parse(self, columns: Columns, line: int, fields: list[str]) -> ImportRow:
        if len(fields) > len(columns.header):
            raise RowError(f"{len(fields)} fields, but the header has {len(columns.header)}")
        fields = fields + [""] * (len(columns.header) - len(fields))
        roles = {role: fields[i].strip() for role, i in columns.roles.items()}
        raw_email = fields[columns.email]
        if not raw_email.strip():
            raise RowError("no email address")
        try:
            email = self._validator.normalize(raw_email)
            name = roles.get("name") or " ".join(
                part for part in (roles.get("first_name"), roles.get("last_name")) if part)
            name = normalize_name(name)
            tags = [normalize_tag(tag) for tag in _split_tags(roles.get("tags", ""))]
        except GbaletterError as exc:
            raise RowError(str(exc)) from None
        attributes = _json_attributes(roles.get("attributes", ""))
        attributes.update((key, fields[i].strip()) for i, key in columns.extras if fields[i].strip())
        return ImportRow(line, email, email_hash(email), name, tags + self.extra_tags, attributes,
                         self._status(roles.get("status", ""), columns), _joined(roles.get("joined", "")),
                         roles.get("source") or f"import {self.path.name}")

    def _status(self, word: str, columns: Columns) -> Status:
        if not word:
            return columns.file_status or self.status
        try:
            return STATUS_WORDS[word.lower()]
        except KeyError:
            raise RowError(f"unknown status {word!r} (known: {', '.join(STATUS_WORDS)})") from None

    # -- running -----------------------------------------------------------------------------
    def run(self, progress: Callable[[ImportReport], None] | None = None) -> ImportReport:
        """Import the file; `progress` is called after each batch. Returns the final report."""
        self.report.lines_total = check_text_file(self.path)
        rows = self._rows()
        _, header = next(rows)
        columns = Columns.from_header(header, self.path.name)
        with self.database.reader() as session:
            self._floor = session.scalar(select(func.max(Subscriber.id))) or 0
        with ExitStack() as self._files:
            self._rejects_header = ["line", "reason", *header]
            self._import(columns, rows, progress)
        return self.report

    def _import(self, columns: Columns, rows: Iterator[tuple[int, list[str]]],
                progress: Callable[[ImportReport], None] | None) -> None:
        if self.dry_run:
            with self.database.session(commit=False) as session:
                for batch in self._batches(columns, rows):
                    self._store(session, batch)
                    self._done(batch, progress)
        else:
            for batch in self._batches(columns, rows):
                with self.database.session() as session:
                    self._store(session, batch)
                self._done(batch, progress)

    def _batches(self, columns: Columns, rows: Iterator[tuple[int, list[str]]]
                 ) -> Iterator[list[ImportRow]]:
        batch: dict[str, ImportRow] = {}
        for line, fields in rows:
            if not any(value.strip() for value in fields):
                continue
            try:
                row = self._parse(columns, line, fields)
            except (RowError, InvalidAddress) as exc:
                self._reject(line, str(exc), fields)
                continue
            if row.key in batch:
                self.report.duplicates += 1
            else:
                batch[row.key] = row
            if len(batch) >= self.batch_size:
                yield list(batch.values())
                batch = {}
        if batch:
            yield list(batch.values())

    def _done(self, batch: list[ImportRow], progress: Callable[[ImportReport], None] | None) -> None:
        self.report.lines_done = batch[-1].line
        if progress:
            progress(self.report)

    def _reject(self, line: int, reason: str, fields: list[str]) -> None:
        """Write a rejected row out (the file is complete, and in place, when the import ends)."""
        if self._rejects is None:
            self._rejects = csv.writer(self._files.enter_context(atomic_text_file(self.rejects_path)))
            self._rejects.writerow(self._rejects_header)
            self.report.rejects_file = self.rejects_path
        self._rejects.writerow([line, reason, *fields])
        self.report.rejected += 1

    # -- storing -----------------------------------------------------------------------------
    def _store(self, session: Session, batch: list[ImportRow]) -> None:
        connection = session.connection()
        keys = [row.key for row in batch]
        suppressed = set(connection.scalars(
            select(Suppression.email_hash).where(Suppression.email_hash.in_(keys))))
        table = Subscriber.__table__
        existing = {found.email_hash: found for found in connection.execute(
            select(table.c.id, table.c.email_hash, table.c.name, table.c.attributes,
                   table.c.status).where(table.c.email_hash.in_(keys)))}
        tag_ids = self._ensure_tags(connection, {tag for row in batch for tag in row.tags})
        now = utcnow()
        fresh = [row for row in batch if row.key not in existing and row.key not in suppressed]
        self.report.suppressed += len(suppressed)
        self._insert(connection, fresh, tag_ids, now)
        earlier = [(row, existing[row.key]) for row in batch
                   if row.key in existing and row.key not in suppressed]
        self._merge(session, connection, earlier, tag_ids, now)

    def _ensure_tags(self, connection: Connection, names: set[str]) -> dict[str, int]:
        missing = sorted(names - self._tag_ids.keys())
        if missing:
            self._tag_ids.update(connection.execute(
                select(Tag.name, Tag.id).where(Tag.name.in_(missing))).tuples())
            new = [{"name": name} for name in missing if name not in self._tag_ids]
            if new:
                self._tag_ids.update(connection.execute(
                    insert(Tag).returning(Tag.name, Tag.id), new).tuples())
        return self._tag_ids

    def _insert(self, connection: Connection, rows: list[ImportRow], tag_ids: dict[str, int],
                now: datetime) -> None:
        if not rows:
            return
        table = Subscriber.__table__
        ids = dict(connection.execute(
            insert(table).returning(table.c.email_hash, table.c.id),
            [{"email": row.email, "email_hash": row.key, "name": row.name, "status": row.status,
              "attributes": row.attributes, "consent_source": row.source,
              "created_at": row.joined or now, "updated_at": now,
              "status_changed_at": row.joined or now} for row in rows]).tuples())
        links = [{"subscriber_id": ids[row.key], "tag_id": tag_ids[tag]}
                 for row in rows for tag in dict.fromkeys(row.tags)]
        if links:
            connection.execute(insert(subscriber_tags), links)
        suppressing = [row for row in rows if row.status.suppresses]
        if suppressing:
            connection.execute(insert(Suppression), [
                {"email_hash": row.key, "reason": row.status.value,
                 "detail": f"imported as {row.status} from {self.path.name}", "created_at": now}
                for row in suppressing])
        self.report.added += len(rows) - len(suppressing)
        self.report.suppressed += len(suppressing)

    def _merge(self, session: Session, connection: Connection, pairs: list[tuple[ImportRow, Any]],
               tag_ids: dict[str, int], now: datetime) -> None:
        """Add what rows bring to subscribers that were on the list before this import began."""
        if not pairs:
            return
        had: dict[int, set[int]] = defaultdict(set)
        for subscriber_id, tag_id in connection.execute(
                select(subscriber_tags.c.subscriber_id, subscriber_tags.c.tag_id)
                .where(subscriber_tags.c.subscriber_id.in_([old.id for _, old in pairs]))):
            had[subscriber_id].add(tag_id)
        changes, links = [], []
        for row, old in pairs:
            if old.id > self._floor:  # added earlier in this same import: first occurrence wins
                self.report.duplicates += 1
                continue
            if row.status.suppresses and old.status != row.status:
                subscriber = session.get_one(Subscriber, old.id)
                change_status(session, subscriber, row.status, actor=self.actor,
                              reason=f"{row.status} in {self.path.name}, line {row.line}")
                self.report.suppressed += 1
                continue
            new_tags = {tag_ids[tag] for tag in row.tags} - had[old.id]
            name = row.name or old.name
            attributes = {**old.attributes, **row.attributes}
            links += [{"subscriber_id": old.id, "tag_id": tag_id} for tag_id in sorted(new_tags)]
            if name != old.name or attributes != old.attributes:
                changes.append({"row_id": old.id, "new_name": name, "new_attributes": attributes})
            if new_tags or name != old.name or attributes != old.attributes:
                self.report.updated += 1
            else:
                self.report.duplicates += 1
        if links:
            connection.execute(insert(subscriber_tags), links)
        if changes:
            table = Subscriber.__table__
            connection.execute(
                update(table).where(table.c.id == bindparam("row_id"))
                .values(name=bindparam("new_name"), attributes=bindparam("new_attributes"),
                        updated_at=now), changes)
        session.flush()


def _split_tags(value: str) -> list[str]:
    """Tags as `a, b`, or Mailchimp's `"a","b"`."""
    if not value.strip():
        return []
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


def _joined(value: str) -> datetime | None:
    """A sign-up time as exported (ISO 8601; Mailchimp and listmonk write UTC)."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(f"unreadable sign-up time {value!r} (expected e.g. 2019-06-01 10:22:33)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
