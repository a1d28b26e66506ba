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

An import into an empty list is one transaction (as on SQLite), which holds that lock from its
BEGIN to its end: the only addresses on the list are those it added itself. `SeenAddresses`
remembers those in a Bloom filter, so that a chunk looks up only its addresses the filter says
may have come before (a repeat in the file, or the filter's rare false positive, which costs
nothing but the lookup); at a million rows the lookups were ~2.5 s of the server's ~37 s.
"""

from __future__ import annotations

from array import array
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
# The Bloom filter of `SeenAddresses`, in bits: 8 KiB to 16 MiB (past 8 million addresses there
# are more false positives, each a lookup).
MIN_FILTER_BITS = 1 << 16
MAX_FILTER_BITS = 1 << 27


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


class SeenAddresses(AddressLookup):
    """The lookup while loading an empty list: only the hashes that earlier chunks may have
    added, by a Bloom filter of two bits a hash (its first two 32-bit words, SHA-256 being
    uniform) in 16-32 bits an expected address: 1-2 MB at a million, about 1% false positives."""

    def __init__(self, expected: int):
        size = min(max(1 << (16 * expected - 1).bit_length(), MIN_FILTER_BITS), MAX_FILTER_BITS)
        self._bits = bytearray(size // 8)
        self._mask = size - 1

    def fetch(self, connection: Connection, keys: Sequence[bytes]) -> list[Any]:
        """As `AddressLookup.fetch`, the keys then remembered: the caller adds those not found."""
        return super().fetch(connection, self._maybe_seen(keys))

    def _maybe_seen(self, keys: Sequence[bytes]) -> list[bytes]:
        bits, mask, maybe = self._bits, self._mask, []
        words = array("I", b"".join(keys))  # 8 a key
        for key, first, second in zip(keys, words[0::8], words[1::8], strict=True):
            first &= mask
            second &= mask
            i, one, j, other = first >> 3, 1 << (first & 7), second >> 3, 1 << (second & 7)
            if bits[i] & one and bits[j] & other:
                maybe.append(key)
            else:
                bits[i] |= one
                bits[j] |= other
        return maybe


class NewRows:
    """Rows whose address is not on the list, COPYed in with ids taken in file order."""

    def __init__(self, dialect: Dialect):
        self._copy = CopyIn(Subscriber.__table__, dialect, ("id", *NEW_ROW_COLUMNS), binary=True)
        self._sequence = ""  # its name, asked at the first chunk
        self.unsaved = "this batch was not stored"  # what a failed COPY leaves: the transaction's rows

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
                f"lock); {self.unsaved}: run the import again to go on") from None
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
