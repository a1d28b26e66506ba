"""Moving a whole list to another database (`gbaletter db copy --to URL`), e.g. SQLite -> PostgreSQL.

Every table of the migrated schema is copied, parents before children: the tables are read from
the source database itself (reflected), so a table added by a later migration is copied without
a change here, and this module needs no model (a table the target's triggers fill is counted,
not copied: DERIVED_TABLES). The target is migrated to the same revision first
and must hold no rows; the rows then go in one transaction, each table's count is compared with
the source's (read in one snapshot), and only then is it committed: a failure leaves the target
empty.

Ids are copied as they are (unsubscribe links carry them) and the target's id counters are set
past the highest id the source ever handed out, not only past the highest left: SQLite's
AUTOINCREMENT remembers an erased subscriber's id, and the target must not give it to a newcomer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, Integer, MetaData, Table, func, select, text

from ..errors import GbaletterError
from .engine import Database, describe
from .migrate import upgrade

BATCH_ROWS = 5000
ALEMBIC_TABLE = "alembic_version"  # written by the target's own migrations
# Written by the target's own triggers as the rows they derive from arrive (migration 0014:
# the attribute entries of `subscribers`): not copied, but counted like the others, last.
DERIVED_TABLES = frozenset({"subscriber_attributes"})


@dataclass(frozen=True)
class CopiedTable:
    name: str
    rows: int


def copy_database(source: Database, target: Database,
                  progress: Callable[[CopiedTable], None] | None = None) -> list[CopiedTable]:
    """Copy every row of `source` (migrated) into `target` (empty); returns the counts per table."""
    if source.engine.url == target.engine.url:
        raise GbaletterError(f"db copy: the target {describe(target.engine.url)} is the "
                             "workspace's own database")
    upgrade(source, on_first_use=True)
    upgrade(target)
    copied: list[CopiedTable] = []
    with source.reader() as reading, target.writer_connection() as writing, writing.begin():
        reader = reading.connection()
        into = _tables(writing)
        tables = sorted(_tables(reader).sorted_tables, key=lambda table: table.name in DERIVED_TABLES)
        missing = [table.name for table in tables if table.name not in into.tables]
        if missing:
            raise GbaletterError(f"db copy: the target {describe(target.engine.url)} has no table "
                                 f"{', '.join(missing)} after its migrations")
        occupied = [table.name for table in into.sorted_tables if _count(writing, table)]
        if occupied:
            raise GbaletterError(f"db copy: the target {describe(target.engine.url)} is not empty "
                                 f"({', '.join(occupied)} hold rows); copy into an empty database")
        for table in tables:
            destination = into.tables[table.name]
            for rows in [] if table.name in DERIVED_TABLES else _batches(reader, table):
                writing.execute(destination.insert(), rows)
            expected, found = _count(reader, table), _count(writing, destination)
            if found != expected:
                raise GbaletterError(f"db copy: {table.name}: {found} rows arrived of {expected}; "
                                     "nothing was committed")
            copied.append(CopiedTable(table.name, found))
            if progress is not None:
                progress(copied[-1])
        for table in tables:
            column = _counter_column(table)
            if column is not None:
                _set_counter(writing, table.name, column, _high_water(reader, table, column))
    return copied


def _tables(connection: Connection) -> MetaData:
    """The database's own tables, as its migrations made them, parents first in `sorted_tables`."""
    metadata = MetaData()
    metadata.reflect(connection)
    metadata.remove(metadata.tables[ALEMBIC_TABLE])
    return metadata


def _count(connection: Connection, table: Table) -> int:
    return connection.scalar(select(func.count()).select_from(table)) or 0


def _batches(connection: Connection, table: Table) -> Iterator[list[dict]]:
    result = connection.execution_options(yield_per=BATCH_ROWS).execute(select(table))
    for rows in result.mappings().partitions():
        yield [dict(row) for row in rows]


def _counter_column(table: Table) -> str | None:
    """The integer primary key the database numbers by itself, if the table has one."""
    key = list(table.primary_key.columns)
    if len(key) == 1 and isinstance(key[0].type, Integer) and key[0].autoincrement in (True, "auto"):
        return key[0].name
    return None


def _high_water(connection: Connection, table: Table, column: str) -> int:
    """The highest id the database has handed out for `table` (not only the highest left)."""
    highest = connection.scalar(select(func.max(table.c[column]))) or 0
    dialect = connection.dialect.name
    if dialect == "sqlite" and _autoincrement(connection, table.name):
        remembered = connection.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = :name"),
                                       {"name": table.name})
        highest = max(highest, remembered or 0)
    elif dialect == "postgresql":
        sequence = _sequence(connection, table.name, column)
        if sequence is not None:
            used = connection.execute(text(f"SELECT last_value, is_called FROM {sequence}")).one()
            highest = max(highest, used.last_value if used.is_called else used.last_value - 1)
    return highest


def _sequence(connection: Connection, table: str, column: str) -> str | None:
    return connection.scalar(text("SELECT pg_get_serial_sequence(:table, :column)"),
                             {"table": table, "column": column})


def _autoincrement(connection: Connection, table: str) -> bool:
    """Whether a SQLite table numbers with AUTOINCREMENT (its counter in sqlite_sequence)."""
    sql = connection.scalar(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
                            {"name": table})
    return "AUTOINCREMENT" in (sql or "").upper()


def _set_counter(connection: Connection, table: str, column: str, highest: int) -> None:
    """Make the target's next id `highest + 1`."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        sequence = _sequence(connection, table, column)
        if sequence is not None and highest > 0:
            connection.execute(text("SELECT setval(:sequence, :value)"),
                               {"sequence": sequence, "value": highest})
    elif dialect == "sqlite" and _autoincrement(connection, table) and highest > 0:
        values = {"value": highest, "name": table}
        if not connection.execute(text("UPDATE sqlite_sequence SET seq = max(seq, :value) "
                                       "WHERE name = :name"), values).rowcount:
            connection.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :value)"),
                               values)
