"""Importing subscribers from CSV exports (Mailchimp, listmonk, or plain `email,name,tags`).

Rows are stored in batches, each its own transaction: Ctrl-C stops after the batch being stored
(a second Ctrl-C, or a crash, loses only that batch), and running the same import again is safe,
because a row for an address already on the list only adds what is new (tags, attributes, a name,
a language). An import into an empty list is one transaction instead, unless a batch size is
asked for (SQLite, `sqliteload`: the unique index is built once after the rows, and the
attribute entries are written a chunk at a time, not by a trigger per row; PostgreSQL,
`import_postgres.SeenAddresses`: only addresses the load may have added itself are looked up):
nothing is saved before its end, so Ctrl-C, an error or a crash leaves the list empty, and
running it again starts it again; other writers wait for it. Progress is still reported every
batch.

Per row the outcome is one of: added; updated (on the list before this import, and the row brought
something new); duplicate (on the list or earlier in the file, nothing new: the first occurrence
in a file wins); suppressed (the address is on the suppression list, or the row itself says
unsubscribed/bounced/complained); rejected (written with its line number and the reason to the
rejects file).

Speed (a million rows, see docs/benchmarks.md): the file is parsed in a second process while this
one writes (`parsing`), which sends the rows in chunks of CHUNK_SIZE, already as the driver's
parameters; rows go in through `DriverStatement`, not ORM objects; addresses already on the list
are found by the unique index while inserting (INSERT ... ON CONFLICT DO NOTHING). On PostgreSQL
they are looked up first, and the new rows and their tag links are streamed with COPY straight
into their tables (import_postgres.py).
"""

from __future__ import annotations

import csv
import gc
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Select, bindparam, exists, func, insert, select, update
from sqlalchemy.orm import Session

from ..db import Database, utcnow
from ..db.bulk import CopyIn, DriverStatement, InLookup
from ..errors import GbaletterError
from ..interrupts import StopRequest
from .csvfiles import atomic_text_file, check_text_file, spreadsheet_cell
from .import_postgres import AddressLookup, NewRows, SeenAddresses
from .models import SUPPRESSING, Status, Subscriber, Suppression, Tag, subscriber_tags
from .parsing import ParseJob, parsed_elsewhere
from .rows import ATTRIBUTES, KEY, NAME, STATUS, Columns, ParsedChunk, read_records
from .service import change_status, normalize_tag
from .sqliteload import EmptyListLoad, NumberedInsert, list_is_empty

# Rows per transaction. Large, because the unique index on the address hash takes keys in random
# order: every commit writes (and checkpoints) each index page it touched, and 50,000 rows touch
# hardly more pages than 5,000 do. A crash loses at most one batch of work; a re-run redoes it.
BATCH_SIZE = 50_000
# Rows per message from the parser process, stored as they come within the batch's transaction:
# what either process holds at a time, whatever the batch size.
CHUNK_SIZE = 5_000
# SQLite's page cache for an import (engine.CACHE_MIB is 64): the pages that matter are the unique
# index on the address hash (~45 MB at a million rows, written in random order); half of it in the
# cache costs a million-row import 1-4% more CPU (measured) and keeps both processes under 150 MB together.
IMPORT_CACHE_MIB = 32
# Bound parameters per IN (...) lookup: below SQLite's 32,766 and PostgreSQL's 65,535.
LOOKUP_CHUNK = 10_000
LINK_COLUMNS = ("subscriber_id", "tag_id")


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
    one_transaction: bool = False  # an empty list's import: saved at the end, or not at all

    @property
    def rows(self) -> int:
        return self.added + self.updated + self.duplicates + self.suppressed + self.rejected

    @property
    def saved(self) -> int:
        """Rows that changed the list (duplicates, suppressed and rejected rows change nothing)."""
        return self.added + self.updated

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "duplicates": self.duplicates,
                "suppressed": self.suppressed, "rejected": self.rejected, "rows": self.rows,
                "rejects_file": str(self.rejects_file) if self.rejects_file else None,
                "dry_run": self.dry_run, "one_transaction": self.one_transaction}


class CsvImport:
    """One import of one file; `report` holds the counts so far (committed, unless dry run)."""

    def __init__(self, database: Database, path: Path, *, tags: Iterable[str] = (),
                 status: Status = Status.ACTIVE, dry_run: bool = False,
                 rejects_path: Path | None = None, actor: str = "",
                 batch_size: int = BATCH_SIZE, languages: Sequence[str] = ("en",),
                 batched: bool = False):
        if status not in (Status.ACTIVE, Status.UNCONFIRMED):
            raise GbaletterError(f"--status must be active or unconfirmed, not {status}")
        self.database = database
        self.path = Path(path)
        self.extra_tags = [normalize_tag(tag) for tag in tags]
        self.status = status
        self.dry_run = dry_run
        self.rejects_path = rejects_path or self.path.with_name(f"{self.path.stem}.rejected.csv")
        self.source = f"import {self.path.name}"
        self.actor = actor or self.source
        self.batch_size = batch_size
        # commit every batch even into an empty list (a batch size asked for)
        self.batched = batched
        # the desk's languages: a row's `language` is normalized to one of them; a new subscriber
        # whose row says none reads the first
        self.languages = tuple(languages)
        self.report = ImportReport(dry_run=dry_run)
        self._tag_ids: dict[str, int] = {}
        self._rejects: Any = None  # csv writer, opened at the first rejected row
        self.finishing = False  # an empty list's load is past its last row (indexes, commit)

    def run(self, progress: Callable[[ImportReport], None] | None = None,
            on_interrupt: Callable[[], None] | None = None) -> ImportReport:
        """Import the file; `progress` is called after each batch. Returns the final report.

        Ctrl-C or SIGTERM stops the import after the batch being stored (StopRequested, a
        KeyboardInterrupt, with `report` holding what was committed: nothing, where
        `report.one_transaction`); `on_interrupt` runs when the first one arrives (see
        interrupts.StopRequest).
        """
        self.report.lines_total = check_text_file(self.path)
        records = read_records(self.path)
        _, header = next(records)
        records.close()
        dialect = self.database.engine.dialect
        if dialect.name not in ("sqlite", "postgresql"):
            raise GbaletterError(f"subscribers import: {dialect.name} databases are not supported "
                                 "(SQLite and PostgreSQL are)")
        job = ParseJob(self.path, Columns.from_header(header, self.path.name),
                       self.status, tuple(self.extra_tags), self.source, self.languages,
                       self.batch_size, CHUNK_SIZE, dates_as_text=dialect.name == "sqlite")
        self._copies = dialect.name == "postgresql"
        self._new_links: CopyIn | DriverStatement
        if self._copies:
            self._copied = NewRows(dialect)
            self._new_links = CopyIn(subscriber_tags, dialect, LINK_COLUMNS, binary=True)
        else:
            self._new_links = DriverStatement(insert(subscriber_tags), dialect, LINK_COLUMNS, grouped=True)
            self._numbered = NumberedInsert(dialect, self._new_links)
        table = Subscriber.__table__
        self._existing = (AddressLookup() if self._copies
                          else InLookup(dialect, (table.c.email_hash, table.c.id), table.c.email_hash))
        suppressions = Suppression.__table__
        self._suppressed = InLookup(dialect, (suppressions.c.email_hash,), suppressions.c.email_hash)
        with self.database.reader() as session:
            # Rows above this id were added by this very import: a later row for the same
            # address is a duplicate within the file, not an update.
            self._floor = session.scalar(select(func.max(Subscriber.id))) or 0
        self._merged: set[int] = set()  # subscribers from before the import that a row has updated
        with ExitStack() as stack:
            self._files = stack
            self._rejects_header = ["line", "reason", *header]
            chunks = stack.enter_context(parsed_elsewhere(job))
            stack.enter_context(_collector_paused())
            interrupt = stack.enter_context(StopRequest(on_interrupt))
            if self.dry_run:
                with self.database.session(commit=False) as session:
                    for chunk in chunks:
                        self._store(session, chunk)
                        if chunk.ends_batch:
                            self._batch_done(progress)
                            interrupt.check()
            else:
                for chunk in chunks:
                    committed = replace(self.report)
                    try:
                        with self.database.session() as session:
                            if self._loads_whole(session):
                                self._load_whole(session, chunk, chunks, progress, interrupt)
                            else:
                                self._store_batch(session, chunk, chunks)
                    except BaseException:  # the batch was rolled back, and its counts
                        self.report = replace(committed, one_transaction=self.report.one_transaction)
                        raise
                    self._batch_done(progress)
                    if not self.report.one_transaction:  # else the whole file is saved: done
                        interrupt.check()
        return self.report

    def _loads_whole(self, session: Session) -> bool:
        """Whether this is the first batch of an import into an empty list that may be one
        transaction (the write lock is ours: no one adds a row meanwhile)."""
        return not self.batched and self.report.lines_done == 0 and list_is_empty(session.connection())

    def _load_whole(self, session: Session, first: ParsedChunk, chunks: Iterator[ParsedChunk],
                    progress: Callable[[ImportReport], None] | None, interrupt: StopRequest) -> None:
        """The whole file in this transaction (SQLite: the unique index built after the rows)."""
        self.report.one_transaction = True
        repeats: Callable[[], list[str]]
        if self._copies:  # the indexes stay; only addresses this load may have added are looked up
            self._existing = SeenAddresses(self.report.lines_total)
            self._copied.unsaved = "nothing was stored (an import into an empty list is one transaction)"
            repeats = list
        else:  # no index to skip by: repeats are deleted at the end
            self._numbered.skips = False
            repeats = EmptyListLoad(session.connection()).finish
        for chunk in chain([first], chunks):
            self._store(session, chunk)
            if chunk.ends_batch:
                self._batch_done(progress)  # counts not committed yet, nor the line reached
                interrupt.check()
        interrupt.check()  # the last chunk need not end a batch
        self.finishing = True  # from here on the import saves everything (a second stop: nothing)
        for status in repeats():  # a row deleted again: a duplicate, as a batch counts it
            self.report.suppressed -= status in SUPPRESSING
            self.report.added -= status not in SUPPRESSING
            self.report.duplicates += 1

    def _store_batch(self, session: Session, first: ParsedChunk, chunks: Iterator[ParsedChunk]) -> None:
        """Store a batch's chunks, from `first` to the one that ends the batch."""
        chunk: ParsedChunk | None = first
        while chunk is not None:
            self._store(session, chunk)
            chunk = None if chunk.ends_batch else next(chunks, None)

    def _batch_done(self, progress: Callable[[ImportReport], None] | None) -> None:
        if progress:
            progress(self.report)

    def _reject(self, line: int, reason: str, fields: list[str]) -> None:
        """Write a rejected row out (the file is complete, and in place, when the import ends)."""
        if self._rejects is None:
            self._rejects = csv.writer(self._files.enter_context(atomic_text_file(self.rejects_path)),
                                       lineterminator="\n")
            self._rejects.writerow(self._rejects_header)
            self.report.rejects_file = self.rejects_path
        self._rejects.writerow([line, spreadsheet_cell(reason), *map(spreadsheet_cell, fields)])
        self.report.rejected += 1

    def _store(self, session: Session, chunk: ParsedChunk) -> None:
        for rejection in chunk.rejections:
            self._reject(*rejection)
        self.report.duplicates += chunk.duplicates
        if chunk.values:
            self._store_rows(session, list(zip(chunk.values, chunk.rows, strict=True)))
        self.report.lines_done = max(self.report.lines_done, chunk.last_line)

    def _store_rows(self, session: Session, rows: list[_Row]) -> None:
        connection = session.connection()
        count = len(rows)
        if connection.scalar(select(exists().select_from(Suppression))):
            suppressed = {key for key, in _fetch(connection, self._suppressed, rows)}
            rows = [row for row in rows if row[0][KEY] not in suppressed]
        self.report.suppressed += count - len(rows)
        tag_ids = self._ensure_tags(connection, {tag for tags in {row[1][1] for row in rows}
                                                 for tag in tags})
        now = utcnow()
        # Rows whose address is on the list come back from the insert (SQLite: skipped by the
        # unique index; PostgreSQL: looked up first; an empty list's load: none).
        skipped, existing = self._insert(connection, rows, tag_ids, now)
        if skipped:
            self._merge(session, connection, skipped, existing, tag_ids, now)

    def _ensure_tags(self, connection: Connection, names: set[str]) -> dict[str, int]:
        missing = sorted(names - self._tag_ids.keys())
        if missing:
            self._tag_ids.update(connection.execute(
                select(Tag.name, Tag.id).where(Tag.name.in_(missing))).all())
            new = [{"name": name} for name in missing if name not in self._tag_ids]
            if new:
                self._tag_ids.update(connection.execute(
                    insert(Tag).returning(Tag.name, Tag.id), new).all())
        return self._tag_ids

    def _insert(self, connection: Connection, rows: list[_Row], tag_ids: dict[str, int],
                now: datetime) -> tuple[list[_Row], dict[bytes, int]]:
        """Insert the rows whose address is new, with their tags; returns the rows skipped
        because their address is on the list (or came earlier in this import), and the ids of
        those addresses (looked up once: PostgreSQL has them from its lookup before the COPY)."""
        if not rows:
            return [], {}
        if self._copies:
            skipped, ids = self._insert_copying(connection, rows, tag_ids)
        else:
            skipped = self._numbered.insert(connection, rows, tag_ids)
            ids = dict(_fetch(connection, self._existing, skipped)) if skipped else {}
        if skipped:
            known = {row[0][KEY] for row in skipped}
            rows = [row for row in rows if row[0][KEY] not in known]
        suppressing = [value for value, _ in rows if value[STATUS] in SUPPRESSING]
        if suppressing:
            connection.execute(insert(Suppression), [
                {"email_hash": value[KEY], "reason": value[STATUS],
                 "detail": f"imported as {value[STATUS]} from {self.path.name}", "created_at": now}
                for value in suppressing])
        self.report.added += len(rows) - len(suppressing)
        self.report.suppressed += len(suppressing)
        return skipped, ids

    def _insert_copying(self, connection: Connection, rows: list[_Row],
                        tag_ids: dict[str, int]) -> tuple[list[_Row], dict[bytes, int]]:
        """PostgreSQL: the addresses on the list are looked up first (those rows are returned,
        with their ids); the new rows are COPYed in, then their tag links (import_postgres)."""
        known: dict[bytes, int] = dict(_fetch(connection, self._existing, rows))
        new = [row for row in rows if row[0][KEY] not in known]
        if new:
            ids = self._copied.insert(connection, [row[0] for row in new], (new[0][1][0], new[-1][1][0]))
            self._new_links.run(connection, [(id_, tag_ids[tag])
                                             for id_, (_, (_, tags, _)) in zip(ids, new, strict=True)
                                             for tag in tags])
        return [row for row in rows if row[0][KEY] in known], known

    def _merge(self, session: Session, connection: Connection, rows: list[_Row],
               ids: dict[bytes, int], tag_ids: dict[str, int], now: datetime) -> None:
        """Add what rows bring to subscribers that were on the list before this import began."""
        # Rows above the floor were added earlier in this same import, and a subscriber merged
        # by an earlier chunk was named earlier in the file: first occurrence wins, whichever
        # chunk or batch a repeat falls in.
        earlier = [row for row in rows if ids[row[0][KEY]] <= self._floor and ids[row[0][KEY]] not in self._merged]
        self._merged.update(ids[row[0][KEY]] for row in earlier)
        self.report.duplicates += len(rows) - len(earlier)
        if not earlier:
            return
        table = Subscriber.__table__
        olds: dict[int, Any] = {}
        had: dict[int, set[int]] = defaultdict(set)
        for chunk in _chunks([ids[row[0][KEY]] for row in earlier]):
            olds.update((old.id, old) for old in connection.execute(
                select(table.c.id, table.c.name, table.c.attributes, table.c.status, table.c.language)
                .where(table.c.id.in_(chunk))))
            links_of_chunk = cast("Select[int, int]", select(subscriber_tags.c.subscriber_id,
                                                              subscriber_tags.c.tag_id))
            for subscriber_id, tag_id in connection.execute(
                    links_of_chunk.where(subscriber_tags.c.subscriber_id.in_(chunk))):
                had[subscriber_id].add(tag_id)
        changes, links = [], []
        for value, (line, tags, row_language) in earlier:
            old = olds[ids[value[KEY]]]
            status = Status(value[STATUS])
            if status.suppresses and old.status != status:
                subscriber = session.get_one(Subscriber, old.id)
                change_status(session, subscriber, status, actor=self.actor,
                              reason=f"{status} in {self.path.name}, line {line}")
                self.report.suppressed += 1
                continue
            new_tags = {tag_ids[tag] for tag in tags} - had[old.id]
            name = value[NAME] or old.name
            attributes = {**old.attributes, **json.loads(value[ATTRIBUTES])}
            language = row_language or old.language
            links += [(old.id, tag_id) for tag_id in sorted(new_tags)]
            changed = name != old.name or attributes != old.attributes or language != old.language
            if changed:
                changes.append({"row_id": old.id, "new_name": name, "new_attributes": attributes,
                                "new_language": language})
            if new_tags or changed:
                self.report.updated += 1
            else:
                self.report.duplicates += 1
        self._new_links.run(connection, links)
        if changes:
            connection.execute(
                update(table).where(table.c.id == bindparam("row_id"))
                .values(name=bindparam("new_name"), attributes=bindparam("new_attributes"),
                        language=bindparam("new_language"), updated_at=now), changes)
        session.flush()


# A row as the importer handles it: (its values for a new subscriber, in NEW_ROW_COLUMNS order;
# (line, tags, the language the row named)), as `ParsedChunk` brings them.
_Row = tuple[tuple[Any, ...], tuple[int, tuple[str, ...], str]]


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start:start + LOOKUP_CHUNK]


def _fetch(connection: Connection, lookup: InLookup | AddressLookup, rows: list[_Row]) -> list[Any]:
    """What `lookup` finds for the rows' address hashes."""
    keys = [row[0][KEY] for row in rows]
    return [found for chunk in _chunks(keys) for found in lookup.fetch(connection, chunk)]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection while batches pass through: a million rows make millions of objects
    and no reference cycles, and every full collection would walk all of them again."""
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
