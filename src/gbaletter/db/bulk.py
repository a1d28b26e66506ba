"""Running one statement over many rows fast, on any backend.

`connection.execute(statement, list_of_dicts)` rebuilds and re-reads a parameter dict per row and
wraps every result row; for a million rows that is a third of an import. `DriverStatement`
compiles the statement once for the dialect in use, converts plain tuples with the columns' own
bind processors (JSON, UTC datetimes, enums: the values SQLAlchemy would send) and runs it on the
DB-API cursor of the connection, inside its transaction. The SQL still comes from SQLAlchemy's
compiler, so it suits any backend.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (ARRAY, JSON, ColumnElement, Connection, Insert, LargeBinary, Table, bindparam, column, func,
                        select)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

_MEMO_SIZE = 4096
# Dialects whose INSERT can skip rows that would break a unique index (ON CONFLICT DO NOTHING).
INSERT_OR_SKIP = frozenset({"sqlite", "postgresql"})
# Bound parameters a statement may have in any SQLite build (SQLITE_MAX_VARIABLE_NUMBER was 999
# before 3.32): what bounds the rows of one multi-row INSERT.
SQLITE_MAX_PARAMETERS = 999


def insert_or_skip(table: Table, dialect: Dialect) -> sqlite.Insert | postgresql.Insert:
    """INSERT into `table` that can skip rows breaking a unique index, in `dialect`'s SQL.

    The dialect's module is imported here, not at the top: SQLAlchemy's PostgreSQL dialect is
    ~3 MB of a SQLite send's memory, which never uses it (and the other way round).
    """
    if dialect.name not in INSERT_OR_SKIP:
        raise ValueError(f"{dialect.name} has no INSERT ... ON CONFLICT DO NOTHING here")
    module = importlib.import_module(f"sqlalchemy.dialects.{dialect.name}")
    return cast("sqlite.Insert | postgresql.Insert", module.insert(table))


def _memoized(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Rows repeat values (one timestamp per batch, a few statuses): convert each once."""
    memo: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return memo[value]
        except KeyError:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            converted = memo[value] = process(value)
            return converted

    return convert


def _bind_processor(kind: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """What turns a value of `kind` into the driver's value (None: the value as it is)."""
    # Binary values go as bytes, which every DB-API driver takes; SQLAlchemy's wrapper
    # (sqlite3.Binary, a memoryview) could not cross a process boundary.
    return None if isinstance(kind, LargeBinary) else kind.dialect_impl(dialect).bind_processor(dialect)


def _processor(kind: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """`_bind_processor`, memoized for a column's values (not JSON's: dicts are not hashable)."""
    process = _bind_processor(kind, dialect)
    if process is not None and not isinstance(kind, JSON):
        process = _memoized(process)
    return process


def driver_value(kind: TypeEngine[Any], dialect: Dialect, value: Any) -> Any:
    """`value` of a column of `kind` as the driver stores it, and so as the rows of a
    `DriverStatement` or an `InLookup` give it back (an enum's name, for one)."""
    process = _processor(kind, dialect)
    return process(value) if process else value


class DriverStatement:
    """`statement` compiled once; rows are tuples of values in `names` order.

    With `grouped`, an INSERT ... VALUES runs as `INSERT ... VALUES (...), (...), ...` of as many
    rows as SQLite's bound parameters allow, instead of once per row by executemany: SQLite's
    start and end of a statement (an AUTOINCREMENT table's counter read and written back among
    them) then come once for 99 subscribers or 499 tag links, and an import's 200,000 subscribers
    went in with 35-40% less CPU, their links with 25-30% less (docs/benchmarks.md). The rows go in
    in the same order.

    The values of the binds in `given` come as the driver takes them (`driver_value`): a value
    every row shares, such as the time of a commit, is then converted once, not once a row.
    """

    def __init__(self, statement: ClauseElement, dialect: Dialect, names: Sequence[str], *,
                 grouped: bool = False, given: Collection[str] = ()):
        if isinstance(statement, Insert):
            # inline(): no RETURNING of generated keys (PostgreSQL adds one otherwise), as
            # executemany has nowhere to put it.
            compiled = statement.inline().compile(dialect=dialect, column_keys=list(names))
        else:
            # a statement (not a DDL element) compiles with the dialect's SQLCompiler
            compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        binds = compiled.binds
        if sorted(binds) != sorted(names):
            raise ValueError(f"the statement binds {sorted(binds)}, not {sorted(names)}")
        self.kinds = {name: binds[name].type for name in names}
        self.sql = compiled.string
        self.positional = compiled.positional
        self.bind_names = list(compiled.positiontup or ()) if self.positional else list(names)
        position = {name: i for i, name in enumerate(names)}
        self._given = {name: _bind_processor(binds[name].type, dialect) for name in given}
        self._steps = [(position[name], None if name in self._given else _processor(binds[name].type, dialect))
                       for name in self.bind_names]
        self._as_given = self.positional and all(
            i == n and process is None for n, (i, process) in enumerate(self._steps))
        self._group = 1
        if grouped:
            if not (isinstance(statement, Insert) and self.positional):
                raise ValueError("only a positional INSERT ... VALUES runs grouped")
            self._group = max(1, SQLITE_MAX_PARAMETERS // len(names))
        self._grouped_sql: dict[int, str] = {1: self.sql}

    def _rows_sql(self, rows: int) -> str:
        """The statement with its VALUES (?, ...) given `rows` times."""
        sql = self._grouped_sql.get(rows)
        if sql is None:
            head, values, tail = self.sql.partition(" VALUES (")
            row, _, tail = tail.partition(")")
            sql = self._grouped_sql[rows] = f"{head}{values[:-1]}{', '.join([f'({row})'] * rows)}{tail}"
        return sql

    def convert(self, rows: Iterable[Sequence[Any]]) -> list[Any]:
        """The driver's parameters for `rows` (converted column by column: C loops, not Python)."""
        if self._as_given:
            return list(rows)
        converted = self.columns(rows)
        if not converted:
            return []
        if self.positional:
            return list(zip(*converted, strict=True))
        return [dict(zip(self.bind_names, values, strict=True)) for values in zip(*converted, strict=True)]

    def columns(self, rows: Iterable[Sequence[Any]]) -> list[Sequence[Any]]:
        """The rows' values converted, a sequence a bind in `bind_names` order ([] for no rows)."""
        columns = list(zip(*rows, strict=True))
        if not columns:
            return []
        return [list(map(process, columns[i])) if process else columns[i] for i, process in self._steps]

    def driver_value(self, name: str, value: Any) -> Any:
        """`value` of the bind `name` (one of `given`) as the driver takes it."""
        process = self._given[name]
        return process(value) if process else value

    def execute(self, connection: Connection, parameters: list[Any]) -> int:
        """Run once per parameter set from `convert` (or made the same way in another process);
        returns the number of rows changed, as the driver counts them."""
        if not parameters:
            return 0
        with driver_cursor(connection) as cursor:
            return self.execute_on(cursor, parameters)

    def execute_on(self, cursor: Any, parameters: list[Any]) -> int:
        """`execute` on a DB-API cursor of the caller's transaction."""
        if self._group == 1:
            cursor.executemany(self.sql, parameters)
            return cast(int, cursor.rowcount)
        changed, start = 0, 0
        while start < len(parameters):
            # The rows left after the full statements go in as 2^k at a time: a few statement
            # sizes in all, as the driver keeps each one prepared (~100 KB for 500 rows; 128 sizes
            # of the links made the importer 7 MB larger).
            left = len(parameters) - start
            size = self._group if left >= self._group else 1 << (left.bit_length() - 1)
            cursor.execute(self._rows_sql(size), list(chain.from_iterable(parameters[start:start + size])))
            changed += cursor.rowcount
            start += size
        return changed

    def run(self, connection: Connection, rows: Iterable[Sequence[Any]]) -> int:
        return self.execute(connection, self.convert(rows))

    def fetch(self, connection: Connection, values: Sequence[Any]) -> list[Any]:
        """Run once with `values`; the rows come as the driver gives them, without SQLAlchemy's
        result processing, so this is for ids, keys and other plain values."""
        with driver_cursor(connection) as cursor:
            return self.fetch_on(cursor, values)

    def fetch_on(self, cursor: Any, values: Sequence[Any]) -> list[Any]:
        """`fetch` on a DB-API cursor of the caller's transaction."""
        cursor.execute(self.sql, self.convert([values])[0])
        return cast("list[Any]", cursor.fetchall())


def rows_statement(statement_of: Callable[[Callable[[str], ColumnElement[Any]]], ClauseElement],
                   dialect: Dialect, names: Sequence[str], *, given: Collection[str] = ()) -> DriverStatement:
    """A statement run for many rows in one call (`execute_on(cursor, convert(rows))`), rows as
    for `DriverStatement`; `statement_of(value)` builds it with `value(name)` for each bind.

    SQLite: `value` is the bind itself, and executemany runs the statement once a row, each a
    call into this process's library. PostgreSQL: each bind becomes an array of the rows' values
    and `value(name)` its column of `unnest` (`ArrayStatement`), so the server runs one statement
    for all the rows where executemany sent one a row, each bound, executed and answered alone.
    """
    per_row = DriverStatement(statement_of(bindparam), dialect, names, given=given)
    if not rows_as_arrays(dialect):
        return per_row
    return ArrayStatement(statement_of, dialect, per_row)


def rows_as_arrays(dialect: Dialect) -> bool:
    """Whether `rows_statement` runs one statement for all the rows (`ArrayStatement`)."""
    return dialect.name == "postgresql"


def array_literal(values: Iterable[Any]) -> str:
    """`values` as PostgreSQL reads an array (its "Array Value Input"): every element quoted, `"`
    and backslash escaped, None as NULL; for values whose `str` PostgreSQL reads as they are (text,
    numbers, booleans, naive timestamps; bytes, intervals or aware timestamps would need their own).
    psycopg writes a list element by element in Python, with a regular expression a string (~0.4
    ms for a group commit's two statements); this is two `str.replace` an element."""
    return "{" + ",".join(["NULL" if value is None else
                           '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
                           for value in values]) + "}"


class ArrayStatement(DriverStatement):
    """PostgreSQL: a `DriverStatement` whose rows go as one array literal a bind, read back as
    rows by `unnest` (`rows_statement`). `unnest`, not a JSON array of records: with the arrays'
    values at hand the planner counts their elements (a generic plan of a prepared statement
    assumes 10), where `json_to_recordset` is taken for 100 rows, and a small table scanned whole.

    An UPDATE through it changes a row once: two rows of one key would both join that row, and
    PostgreSQL applies one of them, not both in order (give each key once: its last change).
    """

    def __init__(self, statement_of: Callable[[Callable[[str], ColumnElement[Any]]], ClauseElement],
                 dialect: Dialect, per_row: DriverStatement):
        names, kinds = per_row.bind_names, per_row.kinds
        rows = (func.unnest(*(bindparam(name, type_=ARRAY(kinds[name])) for name in names))
                .table_valued(*(column(name, kinds[name]) for name in names)).render_derived(name="rows"))
        super().__init__(statement_of(lambda name: rows.c[name]), dialect, names, given=names)
        self._per_row = per_row

    def convert(self, rows: Iterable[Sequence[Any]]) -> list[Any]:
        """One parameter set: each bind the array of the rows' values, converted as `per_row` would."""
        columns = self._per_row.columns(rows)
        if not columns:
            return []
        return [dict(zip(self._per_row.bind_names, map(array_literal, columns), strict=True))]

    def execute_on(self, cursor: Any, parameters: list[Any]) -> int:
        if not parameters:
            return 0
        cursor.execute(self.sql, parameters[0])
        return cast(int, cursor.rowcount)

    def driver_value(self, name: str, value: Any) -> Any:
        return self._per_row.driver_value(name, value)


class CopyIn:
    """PostgreSQL's `COPY table (names) FROM STDIN`: rows as tuples in `names` order, converted
    by the columns' own bind processors like `DriverStatement` does (same `convert`/`execute`).

    COPY streams rows without a statement per row: where executemany sends 50,000 INSERTs, COPY
    sends one command and the data. With `binary`, in PostgreSQL's binary format: neither side
    writes or parses text for numbers, times and bytes (200,000 subscribers into a copy of their
    table: client 0.69 -> 0.26 s, server 0.49 -> 0.28 s); JSON values then go as their text.
    """

    def __init__(self, table: Table, dialect: Dialect, names: Sequence[str], *, binary: bool = False):
        quote = dialect.identifier_preparer.quote
        self.sql = f"COPY {quote(table.name)} ({', '.join(map(quote, names))}) FROM STDIN"
        kinds = [table.c[name].type for name in names]
        self._types = [_wire_type(kind, dialect) for kind in kinds] if binary else None
        if binary:
            self.sql += " (FORMAT BINARY)"
        self._steps = [_json_text(dialect) if binary and isinstance(kind, JSON) else _processor(kind, dialect)
                       for kind in kinds]

    def convert(self, rows: Iterable[Sequence[Any]]) -> list[Any]:
        columns = list(zip(*rows, strict=True))
        if not columns:
            return []
        return list(zip(*(list(map(process, column)) if process else column
                          for column, process in zip(columns, self._steps, strict=True)), strict=True))

    def execute(self, connection: Connection, rows: list[Any]) -> None:
        if rows:
            with driver_cursor(connection) as cursor, cursor.copy(self.sql) as copy:
                if self._types is not None:
                    copy.set_types(self._types)
                for row in rows:
                    copy.write_row(row)

    def run(self, connection: Connection, rows: Iterable[Sequence[Any]]) -> None:
        self.execute(connection, self.convert(rows))


def _wire_type(kind: TypeEngine[Any], dialect: Dialect) -> str:
    """The PostgreSQL type a binary COPY sends a column's values as (psycopg's name for it)."""
    if isinstance(kind, JSON):
        return "text"  # json's binary form is its text
    return kind.compile(dialect=dialect).split("(")[0].lower()


def _json_text(dialect: Dialect) -> Callable[[Any], Any]:
    """A JSON value as its text, serialized as SQLAlchemy would (the dialect's serializer)."""
    return cast("Callable[[Any], Any]", getattr(dialect, "_json_serializer", None) or json.dumps)


@contextmanager
def driver_cursor(connection: Connection) -> Iterator[Any]:
    """A DB-API cursor of the connection, inside its transaction (begun like SQLAlchemy would)."""
    if not connection.in_transaction():
        connection.begin()
    cursor = connection.connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


class InLookup:
    """`SELECT columns WHERE key IN (...)` for lists of keys, each list length compiled once.

    SQLAlchemy renders an expanding IN afresh at every execution, at about a microsecond per value;
    a million-row import looks up every address.
    """

    def __init__(self, dialect: Dialect, columns: Sequence[ColumnElement[Any]],
                 key: ColumnElement[Any]):
        self.dialect = dialect
        self.columns = columns
        self.key = key
        self._statements: dict[int, DriverStatement] = {}

    def fetch(self, connection: Connection, keys: Sequence[Any]) -> list[Any]:
        if not keys:  # e.g. a claimed batch of erased subscribers' rows: IN () binds nothing
            return []
        statement = self._statements.get(len(keys))
        if statement is None:
            names = [f"k{i}" for i in range(len(keys))]
            query = select(*self.columns).where(self.key.in_(
                [bindparam(name, type_=self.key.type) for name in names]))
            statement = self._statements[len(keys)] = DriverStatement(query, self.dialect, names)
        return statement.fetch(connection, keys)
