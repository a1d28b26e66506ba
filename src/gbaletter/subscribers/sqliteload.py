"""SQLite's side of an import: new rows numbered as they go in, and an empty list loaded whole.

An import into an empty list (`EmptyListLoad`) is one transaction that writes the rows and their
tag links without the unique index on the address hash and without the insert trigger of the
attribute entries (one INSERT ... SELECT per chunk writes those instead), then builds that index
once and puts the trigger back, all before it commits. Kept up to date row by row, the index takes
its keys in random order (every commit rewrote nearly each of its pages) and the trigger runs a
program per row: most of a million-row import's time (docs/benchmarks.md). Nothing is visible
before the commit, so a crash, an error or Ctrl-C leaves the list empty and the schema as it was;
other writers (the sign-up form, `subscribers add`) wait for the write lock meanwhile.

A file can name an address again in a later chunk (the parser drops repeats only within a chunk),
and without the index both rows go in: before building it, the later rows are deleted again, so
the first row for an address wins as in a batched import, whose INSERT skips such a row (its id
is used up either way, so ids come out the same). One case differs: an address named three times
in different chunks, the middle row unsubscribed. That row's suppression (deleted again at the end,
with the row) keeps the third row out as "suppressed" where a batch counts it a duplicate, and it
takes no id; the list itself ends the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Insert, bindparam, func, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError

from ..db.bulk import DriverStatement, insert_or_skip
from .models import ADDRESS_INDEX, ATTRIBUTE_KEY_INDEXED, ATTRIBUTE_VALUE_INDEXED, SUPPRESSING, Subscriber, Suppression
from .rows import KEY, NEW_ROW_COLUMNS

INSERT_TRIGGER = "subscriber_attributes_insert"
# The insert trigger's entries (migration 0015) for the subscribers of a range of ids at once, in
# the index's order.
_ENTRIES = f"""INSERT OR IGNORE INTO subscriber_attributes (key, value, subscriber_id)
    SELECT entry.key, CAST(entry.value AS TEXT), s.id FROM subscribers AS s, json_each(s.attributes) AS entry
    WHERE s.id BETWEEN ? AND ? AND entry.type != 'null' AND length(entry.key) <= {ATTRIBUTE_KEY_INDEXED}
      AND length(CAST(entry.value AS TEXT)) <= {ATTRIBUTE_VALUE_INDEXED}
    ORDER BY 1, 2, 3"""
# Rows whose address an earlier row (lower id) has: what a unique index would have refused.
_REPEATS = """SELECT id, status, email_hash FROM (
    SELECT id, status, email_hash, row_number() OVER (PARTITION BY email_hash ORDER BY id) AS n
    FROM subscribers) WHERE n > 1"""
# SQLite's page cache while loading (the import's is 32 MiB): appending touches only the last pages
# of the table and of each index range, and a million-row load took no more CPU with half of it
# (measured, docs/benchmarks.md), 16 MB less. The index's sort holds runs of the page cache's
# size in memory: with 8 MiB instead of 32, 24 MB less and no more CPU (a helper thread, `PRAGMA
# threads`, took 16 MB more and no less CPU).
LOAD_CACHE_KIB = 16 * 1024
_SORT_CACHE_KIB = 8 * 1024
_DELETE_CHUNK = 10_000


def insert_new_addresses(dialect: Dialect) -> Insert:
    """INSERT into subscribers that skips addresses already there."""
    table = Subscriber.__table__
    return insert_or_skip(table, dialect).on_conflict_do_nothing(index_elements=[table.c.email_hash])


class NumberedInsert:
    """INSERT new rows, skipping addresses already on the list, then their tag links (`links`,
    the importer's); or, loading an empty list (`skips` off: no unique index to skip by, no
    insert trigger), every row, its links and its attribute entries."""

    def __init__(self, dialect: Dialect, links: DriverStatement):
        table = Subscriber.__table__
        self._skipping = DriverStatement(insert_new_addresses(dialect), dialect, NEW_ROW_COLUMNS, grouped=True)
        self._plain = DriverStatement(insert(table), dialect, NEW_ROW_COLUMNS, grouped=True)
        self._ids_above = DriverStatement(
            select(table.c.email_hash, table.c.id).where(table.c.id > bindparam("floor")),
            dialect, ("floor",))
        self.links = links
        self.skips = True

    def insert(self, connection: Connection, rows: Sequence[Any], tag_ids: dict[str, int]) -> list[Any]:
        """Insert the rows (the importer's `_Row`s) and their tag links; returns the rows the
        INSERT skipped, whose address is already on the list."""
        floor = connection.scalar(select(func.max(Subscriber.id))) or 0
        added = (self._skipping if self.skips else self._plain).execute(connection, [row[0] for row in rows])
        if added == len(rows):
            # All new: numbered one after another in the order given (the write lock is ours)
            first = (connection.scalar(select(func.max(Subscriber.id))) or 0) - added + 1
            self.links.run(connection, [(first + i, tag_ids[tag])
                                        for i, (_, (_, tags, _)) in enumerate(rows) for tag in tags])
            if not self.skips:  # the insert trigger is not there
                connection.exec_driver_sql(_ENTRIES, (first, first + added - 1))
            return []
        # New ids are above the largest before (SQLite's rowids only grow): a range scan.
        ids = dict(self._ids_above.fetch(connection, (floor,)))
        self.links.run(connection, [(ids[value[KEY]], tag_ids[tag])
                                    for value, (_, tags, _) in rows if value[KEY] in ids for tag in tags])
        return [row for row in rows if row[0][KEY] not in ids]


def list_is_empty(connection: Connection) -> bool:
    return connection.scalar(select(select(Subscriber.id).exists())) is False


class EmptyListLoad:
    """The schema's changes around the load of an empty list, within the caller's transaction:
    `EmptyListLoad(connection)` drops the unique index and the insert trigger (the rows go in
    by a `NumberedInsert` that does not `skip`, and writes the entries), `finish()` makes them
    again, from the SQL they were made with as the file has it."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self._made: dict[str, str] = dict(connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE name IN (?, ?)", (ADDRESS_INDEX, INSERT_TRIGGER)).all())
        if self._made.keys() != {ADDRESS_INDEX, INSERT_TRIGGER}:
            raise RuntimeError(f"the schema lacks {ADDRESS_INDEX} or {INSERT_TRIGGER}")
        connection.exec_driver_sql(f"DROP INDEX {ADDRESS_INDEX}")
        connection.exec_driver_sql(f"DROP TRIGGER {INSERT_TRIGGER}")
        self._cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        connection.exec_driver_sql(f"PRAGMA cache_size = -{LOAD_CACHE_KIB}")

    def finish(self) -> list[str]:
        """The index (after deleting rows that repeat an address) and the trigger; returns the
        statuses of the rows deleted."""
        connection = self.connection
        connection.exec_driver_sql(f"PRAGMA cache_size = -{_SORT_CACHE_KIB}")
        repeats = self._build_unique_index()
        connection.exec_driver_sql(self._made[INSERT_TRIGGER])
        connection.exec_driver_sql(f"PRAGMA cache_size = {self._cache}")
        return repeats

    def _build_unique_index(self) -> list[str]:
        connection = self.connection
        try:  # a failed statement is undone alone: the transaction goes on
            connection.exec_driver_sql(self._made[ADDRESS_INDEX])
            return []
        except IntegrityError:
            pass  # the file repeats an address in two chunks: rare, so looked for only now
        found = connection.exec_driver_sql(_REPEATS).all()
        ids = [row[0] for row in found]
        for start in range(0, len(ids), _DELETE_CHUNK):  # tag links go by their foreign key
            chunk = ids[start:start + _DELETE_CHUNK]
            connection.execute(Subscriber.__table__.delete().where(Subscriber.id.in_(chunk)))
        # A later row that unsubscribed wrote its address to the suppression list (an earlier
        # one that did would have kept the later ones out): the first row, which stays, did not.
        suppressed = [row[2] for row in found if row[1] in SUPPRESSING]
        for start in range(0, len(suppressed), _DELETE_CHUNK):
            connection.execute(Suppression.__table__.delete().where(
                Suppression.email_hash.in_(suppressed[start:start + _DELETE_CHUNK])))
        connection.exec_driver_sql(self._made[ADDRESS_INDEX])
        return [str(status) for _, status, _ in found]

