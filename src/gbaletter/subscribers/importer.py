"""Importing subscribers from CSV exports (Mailchimp, listmonk, or plain `email,name,tags`).

Rows are stored in batches, each its own transaction: Ctrl-C stops after the batch being stored
(a second Ctrl-C, or a crash, loses only that batch), and running the same import again is safe,
because a row for an address already on the list only adds what is new (tags, attributes, a name,
a language).

Per row the outcome is one of: added; updated (on the list before this import, and the row brought
something new); duplicate (on the list or earlier in the file, nothing new: the first occurrence
in a file wins); suppressed (the address is on the suppression list, or the row itself says
unsubscribed/bounced/complained); rejected (written with its line number and the reason to the
rejects file).

Speed (a million rows, see docs/benchmarks.md): the file is parsed in a second process while this
one writes; rows go in through `DriverStatement`, not ORM objects; addresses already on the list
are found by the unique index while inserting (INSERT ... ON CONFLICT DO NOTHING). On PostgreSQL
new rows are streamed with COPY into a temporary table and inserted from there in one statement,
which also returns their ids; tag links are streamed with COPY straight into their table.
"""

from __future__ import annotations

import csv
import gc
import multiprocessing
import signal
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (Column, Connection, Insert, MetaData, Select, Table, bindparam, exists, func,
                        insert, select, update)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from ..db import Database, utcnow
from ..db.bulk import INSERT_OR_SKIP, CopyIn, DriverStatement, InLookup, insert_or_skip
from ..errors import GbaletterError
from ..interrupts import STOP_SIGNALS, StopRequest
from .csvfiles import atomic_text_file, check_text_file, spreadsheet_cell
from .models import SUPPRESSING, Status, Subscriber, Suppression, Tag, subscriber_tags
from .rows import Columns, ImportRow, ParsedBatch, RowParser, read_records
from .service import change_status, normalize_tag

# Rows per transaction. Large, because the unique index on the address hash takes keys in random
# order: every commit writes (and checkpoints) each index page it touched, and 50,000 rows touch
# hardly more pages than 5,000 do. A crash loses at most one batch of work; a re-run redoes it.
BATCH_SIZE = 50_000
# Bound parameters per IN (...) lookup: below SQLite's 32,766 and PostgreSQL's 65,535.
LOOKUP_CHUNK = 10_000
NEW_ROW_COLUMNS = ("email", "email_hash", "name", "status", "attributes", "consent_source",
                   "created_at", "updated_at", "status_changed_at", "language")
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
                "dry_run": self.dry_run}


class CsvImport:
    """One import of one file; `report` holds the counts so far (committed, unless dry run)."""

    def __init__(self, database: Database, path: Path, *, tags: Iterable[str] = (),
                 status: Status = Status.ACTIVE, dry_run: bool = False,
                 rejects_path: Path | None = None, actor: str = "",
                 batch_size: int = BATCH_SIZE, languages: Sequence[str] = ("en",)):
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
        # the desk's languages: a row's `language` is normalized to one of them; a new subscriber
        # whose row says none reads the first
        self.languages = tuple(languages)
        self.report = ImportReport(dry_run=dry_run)
        self._tag_ids: dict[str, int] = {}
        self._rejects: Any = None  # csv writer, opened at the first rejected row

    def run(self, progress: Callable[[ImportReport], None] | None = None,
            on_interrupt: Callable[[], None] | None = None) -> ImportReport:
        """Import the file; `progress` is called after each batch. Returns the final report.

        Ctrl-C or SIGTERM stops the import after the batch being stored (StopRequested, a
        KeyboardInterrupt, with `report` holding what was committed); `on_interrupt` runs when
        the first one arrives (see interrupts.StopRequest).
        """
        self.report.lines_total = check_text_file(self.path)
        records = read_records(self.path)
        _, header = next(records)
        columns = Columns.from_header(header, self.path.name)
        parser = RowParser(columns, status=self.status, extra_tags=self.extra_tags,
                           source=self.source, languages=self.languages)
        dialect = self.database.engine.dialect
        self._skips_known = dialect.name in INSERT_OR_SKIP
        self._copies = dialect.name == "postgresql"
        self._new_rows: CopyIn | DriverStatement
        self._new_links: CopyIn | DriverStatement
        if self._copies:
            self._new_rows = CopyIn(_STAGING, dialect, NEW_ROW_COLUMNS)
            self._new_links = CopyIn(subscriber_tags, dialect, LINK_COLUMNS)
        else:
            self._new_rows = DriverStatement(_insert_new_addresses(dialect), dialect, NEW_ROW_COLUMNS)
            self._new_links = DriverStatement(insert(subscriber_tags), dialect, LINK_COLUMNS)
        table = Subscriber.__table__
        self._existing = InLookup(dialect, (table.c.email_hash, table.c.id), table.c.email_hash)
        suppressions = Suppression.__table__
        self._suppressed = InLookup(dialect, (suppressions.c.email_hash,), suppressions.c.email_hash)
        self._ids_above = DriverStatement(
            select(table.c.email_hash, table.c.id).where(table.c.id > bindparam("floor")),
            dialect, ("floor",))
        with self.database.reader() as session:
            # Rows above this id were added by this very import: a later row for the same
            # address is a duplicate within the file, not an update.
            self._floor = session.scalar(select(func.max(Subscriber.id))) or 0
        with ExitStack() as stack:
            self._files = stack
            self._rejects_header = ["line", "reason", *header]
            batches = stack.enter_context(_parsed_elsewhere(
                self._with_parameters(parser.batches(records, self.batch_size))))
            stack.enter_context(_collector_paused())
            interrupt = stack.enter_context(StopRequest(on_interrupt))
            if self.dry_run:
                with self.database.session(commit=False) as session:
                    for batch in batches:
                        self._store(session, batch, progress)
                        interrupt.check()
            else:
                for batch in batches:
                    committed = replace(self.report)
                    try:
                        with self.database.session() as session:
                            self._store(session, batch, progress)
                    except BaseException:
                        self.report = committed  # the batch was rolled back, and its counts
                        raise
                    interrupt.check()
        return self.report

    def _with_parameters(self, batches: Iterator[ParsedBatch]) -> Iterator[ParsedBatch]:
        """Convert rows to database parameters on the parser's side of the pipe (JSON, dates)."""
        default_language = self.languages[0]
        for batch in batches:
            now = utcnow()
            batch.new_rows = self._new_rows.convert(
                [(row.email, row.key, row.name, row.status, row.attributes, row.source,
                  row.joined or now, now, row.joined or now, row.language or default_language)
                 for row in batch.rows])
            yield batch

    def _reject(self, line: int, reason: str, fields: list[str]) -> None:
        """Write a rejected row out (the file is complete, and in place, when the import ends)."""
        if self._rejects is None:
            self._rejects = csv.writer(self._files.enter_context(atomic_text_file(self.rejects_path)),
                                       lineterminator="\n")
            self._rejects.writerow(self._rejects_header)
            self.report.rejects_file = self.rejects_path
        self._rejects.writerow([line, spreadsheet_cell(reason), *map(spreadsheet_cell, fields)])
        self.report.rejected += 1

    def _store(self, session: Session, batch: ParsedBatch,
               progress: Callable[[ImportReport], None] | None) -> None:
        for rejection in batch.rejections:
            self._reject(*rejection)
        self.report.duplicates += batch.duplicates
        if batch.rows:
            self._store_rows(session, batch)
        self.report.lines_done = batch.last_line
        if progress:
            progress(self.report)

    def _store_rows(self, session: Session, batch: ParsedBatch) -> None:
        connection = session.connection()
        rows = batch.rows
        suppressed: set[bytes] = set()
        if connection.scalar(select(exists().select_from(Suppression))):
            suppressed = {key for key, in _fetch(connection, self._suppressed, rows)}
        rows = [row for row in rows if row.key not in suppressed]
        self.report.suppressed += len(batch.rows) - len(rows)
        # Where INSERT can skip addresses already on the list, the unique index finds them while
        # inserting; elsewhere they are looked up first.
        existing = {} if self._skips_known else dict(_fetch(connection, self._existing, rows))
        tag_ids = self._ensure_tags(connection, {tag for row in rows for tag in row.tags})
        now = utcnow()
        fresh = [row for row in rows if row.key not in existing]
        parameters = {row.key: values for row, values in zip(batch.rows, batch.new_rows, strict=True)}
        inserted = self._insert(connection, fresh, [parameters[row.key] for row in fresh],
                                tag_ids, now)
        skipped = [row for row in fresh if row.key not in inserted]
        if skipped:
            existing.update(_fetch(connection, self._existing, skipped))
        self._merge(session, connection, [row for row in rows if row.key in existing],
                    existing, tag_ids, now)

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

    def _insert(self, connection: Connection, rows: list[ImportRow], parameters: list[Any],
                tag_ids: dict[str, int], now: datetime) -> dict[bytes, int]:
        """Insert the rows whose address is new; returns their ids by address hash."""
        if not rows:
            return {}
        if self._copies:
            _STAGING.create(connection)
            self._new_rows.execute(connection, parameters)
            ids = dict(cast("list[tuple[bytes, int]]", connection.execute(_FROM_STAGING).all()))
            _STAGING.drop(connection)
        else:
            # New ids are above today's largest (SQLite's rowids only grow), so reading them back
            # is a range scan, not a lookup per address.
            floor = connection.scalar(select(func.max(Subscriber.id))) or 0
            self._new_rows.execute(connection, parameters)
            ids = dict(self._ids_above.fetch(connection, (floor,)))
        rows = [row for row in rows if row.key in ids]
        self._new_links.run(connection, [(ids[row.key], tag_ids[tag])
                                         for row in rows for tag in row.tags])
        suppressing = [row for row in rows if row.status in SUPPRESSING]
        if suppressing:
            connection.execute(insert(Suppression), [
                {"email_hash": row.key, "reason": row.status.value,
                 "detail": f"imported as {row.status} from {self.path.name}", "created_at": now}
                for row in suppressing])
        self.report.added += len(rows) - len(suppressing)
        self.report.suppressed += len(suppressing)
        return ids

    def _merge(self, session: Session, connection: Connection, rows: list[ImportRow],
               ids: dict[bytes, int], tag_ids: dict[str, int], now: datetime) -> None:
        """Add what rows bring to subscribers that were on the list before this import began."""
        earlier = [row for row in rows if ids[row.key] <= self._floor]
        # Rows above the floor were added earlier in this same import: first occurrence wins.
        self.report.duplicates += len(rows) - len(earlier)
        if not earlier:
            return
        table = Subscriber.__table__
        olds: dict[int, Any] = {}
        had: dict[int, set[int]] = defaultdict(set)
        for chunk in _chunks([ids[row.key] for row in earlier]):
            olds.update((old.id, old) for old in connection.execute(
                select(table.c.id, table.c.name, table.c.attributes, table.c.status, table.c.language)
                .where(table.c.id.in_(chunk))))
            links_of_chunk = cast("Select[int, int]", select(subscriber_tags.c.subscriber_id,
                                                              subscriber_tags.c.tag_id))
            for subscriber_id, tag_id in connection.execute(
                    links_of_chunk.where(subscriber_tags.c.subscriber_id.in_(chunk))):
                had[subscriber_id].add(tag_id)
        changes, links = [], []
        for row in earlier:
            old = olds[ids[row.key]]
            if row.status.suppresses and old.status != row.status:
                subscriber = session.get_one(Subscriber, old.id)
                change_status(session, subscriber, row.status, actor=self.actor,
                              reason=f"{row.status} in {self.path.name}, line {row.line}")
                self.report.suppressed += 1
                continue
            new_tags = {tag_ids[tag] for tag in row.tags} - had[old.id]
            name = row.name or old.name
            attributes = {**old.attributes, **row.attributes}
            language = row.language or old.language
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


# PostgreSQL: a batch's new rows are copied here, then inserted into subscribers in one statement
# that skips known addresses and returns the new ids (made and dropped in the batch's transaction).
_STAGING = Table("gbaletter_import_rows", MetaData(),
                 *(Column(name, Subscriber.__table__.c[name].type) for name in NEW_ROW_COLUMNS),
                 prefixes=["TEMPORARY"])
_FROM_STAGING = (postgresql_insert(Subscriber.__table__)
                 .from_select(NEW_ROW_COLUMNS, select(*_STAGING.c))
                 .on_conflict_do_nothing(index_elements=[Subscriber.__table__.c.email_hash])
                 .returning(Subscriber.__table__.c.email_hash, Subscriber.__table__.c.id))


def _insert_new_addresses(dialect: Dialect) -> Insert:
    """INSERT into subscribers that skips addresses already there, where the dialect can."""
    table = Subscriber.__table__
    if dialect.name not in INSERT_OR_SKIP:
        return insert(table)
    return insert_or_skip(table, dialect).on_conflict_do_nothing(index_elements=[table.c.email_hash])


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start:start + LOOKUP_CHUNK]


def _fetch(connection: Connection, lookup: InLookup, rows: list[ImportRow]) -> list[Any]:
    """What `lookup` finds for the rows' address hashes."""
    keys = [row.key for row in rows]
    return [found for chunk in _chunks(keys) for found in lookup.fetch(connection, chunk)]


@contextmanager
def _parsed_elsewhere(batches: Iterator[ParsedBatch]) -> Iterator[Iterator[ParsedBatch]]:
    """The batches, parsed in a forked process while this one writes the previous batch.

    Parsing (CSV, address checks, hashing) is half the work of an import and SQLite writes from
    one process, so a second core halves the time. The pipe holds at most about one batch, which
    bounds memory. Where fork is missing the batches are parsed here, one after the other.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        yield batches
        return
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(target=_send_batches, args=(batches, sender, receiver), daemon=True,
                             name="gbaletter-csv-parser")
    worker.start()
    sender.close()
    try:
        yield _receive_batches(receiver)
    finally:
        receiver.close()
        worker.kill()
        worker.join()


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


def _send_batches(batches: Iterator[ParsedBatch], sender: Pipe, receiver: Pipe) -> None:
    """The parser process: Ctrl-C and SIGTERM are for the importer, which ends this process itself
    (a service manager signals the whole group).

    The pipe's reading end, inherited by the fork, is closed here: then the importer's end is
    the only one, and when the importer dies (`kill -9`) the next send fails and this process
    ends, instead of waiting forever on a pipe that it keeps open itself.
    The garbage collector is off: parsing makes no reference cycles, and a collection would walk
    (and, by touching them, copy) every object inherited from the importer.
    """
    receiver.close()
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    gc.disable()
    try:
        for batch in batches:
            sender.send(batch)
        sender.send(None)
    except GbaletterError as exc:
        sender.send(exc)
    except (BrokenPipeError, OSError):
        pass  # the importer stopped


def _receive_batches(receiver: Pipe) -> Iterator[ParsedBatch]:
    while True:
        try:
            item = receiver.recv()
        except EOFError:
            raise RuntimeError("the CSV parser process ended unexpectedly") from None
        if item is None:
            return
        if isinstance(item, GbaletterError):
            raise item
        yield item
