"""PostgreSQL: an import's new subscribers go straight into their tables with COPY.

Per chunk (see importer.py): which of its addresses are on the list already is looked up with one
`= ANY(array)` query (`AddressLookup`); those rows are merged by the importer. The rest are new:
`NewRows` takes their ids from the table's own sequence, in file order, in one query, then streams
the rows with a binary COPY (the importer streams their tag links the same way). COPY is what the
benchmark's reference does: the server inserts while the client is still sending, with no
statement per row, no staging table and no speculative insertion of `ON CONFLICT` (a million
rows: the server's CPU from 1.1-1.2x the reference's to 0.9-1.0x, docs/benchmarks.md). COPY
fires the insert triggers too: the statement trigger of migration 0015 writes the chunk's
attribute entries from its transition table.

Nothing can add one of the chunk's addresses between the lookup and the COPY: the batch's
transaction holds the list's write lock from its BEGIN (`Database.session`), and so does every
gbaletter transaction that adds a subscriber (a sign-up, `subscribers add`, another import,
`db copy`): they wait for the batch to commit, and then find the address on the list. Readers,
sends (their freeze and journal do not take the lock) and status changes made under it wait no
more than they did before. A program that inserts into `subscribers` without that lock meets the
unique index on the address hash instead: the COPY fails, the batch is rolled back, and the
import stops with `ConcurrentAddition` (no row doubled or half stored; running it again goes on).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect

from ..db.bulk import CopyIn, driver_cursor
from ..errors import GbaletterError
from .models import ADDRESS_INDEX, Subscriber
from .rows import NEW_ROW_COLUMNS

_UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE
_TABLE = Subscriber.__table__.name


class ConcurrentAddition(GbaletterError):
    """An address of the chunk was added by a writer that does not take the list's write lock."""


class AddressLookup:
    """The subscribers (address hash, id) among some address hashes: one `= ANY` per call, the
    hashes as one array parameter (an `IN` list binds, and the server parses, one per key)."""

    sql = f"SELECT email_hash, id FROM {_TABLE} WHERE email_hash = ANY(%b)"

    def fetch(self, connection: Connection, keys: Sequence[bytes]) -> list[Any]:
        if not keys:
            return []
        with driver_cursor(connection) as cursor:
            cursor.execute(self.sql, (list(keys),))
            return cursor.fetchall()


class NewRows:
    """Rows whose address is not on the list, COPYed in with ids taken in file order."""

    def __init__(self, dialect: Dialect):
        self._copy = CopyIn(Subscriber.__table__, dialect, ("id", *NEW_ROW_COLUMNS), binary=True)
        self._sequence = ""  # its name, asked at the first chunk

    def insert(self, connection: Connection, rows: list[tuple[Any, ...]], lines: tuple[int, int]) -> list[int]:
        """Insert `rows` (values in NEW_ROW_COLUMNS order, from file lines `lines`); their ids."""
        ids = self._take_ids(connection, len(rows))
        try:
            self._copy.execute(connection, [(id_, *values) for id_, values in zip(ids, rows, strict=True)])
        except Exception as exc:
            diagnostic = getattr(exc, "diag", None)
            if (getattr(exc, "sqlstate", None) != _UNIQUE_VIOLATION
                    or getattr(diagnostic, "constraint_name", None) != ADDRESS_INDEX):
                raise
            raise ConcurrentAddition(
                f"subscribers import: an address of lines {lines[0]}-{lines[1]} was added to the list "
                "by another program while the import ran (one that does not take gbaletter's write "
                "lock); this batch was not stored: run the import again to go on") from None
        return ids

    def _take_ids(self, connection: Connection, count: int) -> list[int]:
        """`count` ids from the table's sequence, ascending: the first row gets the lowest."""
        with driver_cursor(connection) as cursor:
            if not self._sequence:
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", (_TABLE,))
                self._sequence = cursor.fetchone()[0]
            cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s) ORDER BY 1",
                           (self._sequence, count))
            return [id_ for id_, in cursor.fetchall()]
