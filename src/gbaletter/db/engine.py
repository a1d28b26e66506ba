"""Engines and sessions: one `Database` object per workspace (`migrate.open_database` opens it).

SQLite is tuned for one writer and many readers: WAL journal, foreign keys on, a busy timeout so a
writer waits for another instead of failing, and synchronous=NORMAL (durable at each checkpoint,
never corrupt). Write transactions start with BEGIN IMMEDIATE: a deferred transaction that reads
and then writes fails at once with "database is locked" when another process wrote in between,
while an immediate one takes the write lock first and waits its turn.

PostgreSQL (psycopg 3) keeps the same rule, so that the services' read-then-write steps (is this
address on the list? then add it) stay right with several processes: a write transaction takes
one transaction-scoped advisory lock, the list's write lock, when it begins. Readers never wait
(MVCC). Connecting gives up after CONNECT_TIMEOUT_SECONDS instead of the system's minutes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import GbaletterError

BUSY_TIMEOUT_SECONDS = 30
# How often a writer waiting for SQLite's write lock tries again (see `_begin_immediate`).
WRITE_LOCK_POLL_SECONDS = 0.001
# Page cache per connection (SQLite's default is 2 MiB). Allocated only as pages are read; large
# imports and segment scans over a million rows run several times faster with it.
CACHE_MIB = 64
CHECKPOINT_PAGES = 10_000
CONNECT_TIMEOUT_SECONDS = 10
# The advisory lock key of the list's write lock on PostgreSQL (any fixed 64-bit number).
WRITE_LOCK_KEY = 0x6762_616C_6574  # "gbalet"
# Execution option read by the "begin" hooks: take the write lock when the transaction starts.
_IMMEDIATE = "gbaletter_begin_immediate"
# A SQLite connection's `info` key: its busy_timeout is 0 for good (`Database.rows_writer_connection`).
_POLLS = "gbaletter_polls"


def describe(url: URL) -> str:
    """The URL as it may be shown to people: without its password."""
    return url.render_as_string(hide_password=True)


def cannot_connect(url: URL, exc: DBAPIError) -> GbaletterError:
    """One line for a database that cannot be opened: the server's or the driver's own reason
    (refused, a wrong password, no such database, a SQLite option in a PostgreSQL URL, ...)."""
    first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
    # libpq: 'connection failed: connection to server at "h" (...), port 5432 failed: REASON'
    reason = first.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
    return GbaletterError(f"database {describe(url)}: cannot open it: {reason}")


def _tune_sqlite(engine: Engine, cache_mib: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Take BEGIN away from the sqlite3 module (it skips it for SELECT and DDL) and emit our own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode = WAL", "foreign_keys = ON", "synchronous = NORMAL",
                       f"busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}",
                       f"cache_size = -{round(cache_mib * 1024)}",
                       # Checkpoint every ~40 MB of WAL, not 4 MB: a bulk write rewrites the same
                       # index pages batch after batch, and each checkpoint copies them once.
                       f"wal_autocheckpoint = {CHECKPOINT_PAGES}",
                       f"journal_size_limit = {CHECKPOINT_PAGES * 4096 * 2}",
                       # Zeroing freed space costs imports ~10%; `erasing()` turns it on where it
                       # matters (some builds, Debian's among them, default to on).
                       "secure_delete = OFF"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        if connection.get_execution_options().get(_IMMEDIATE):
            # the last try's error as SQLAlchemy reports it
            begin = _write_lock_taker(connection)
            begin(_sqlite_driver(connection), lambda: connection.exec_driver_sql("BEGIN IMMEDIATE"))
        else:
            connection.exec_driver_sql("BEGIN")


def _sqlite_driver(connection: Connection) -> sqlite3.Connection:
    return cast("sqlite3.Connection", connection.connection.dbapi_connection)


def _begin_immediate(driver: sqlite3.Connection | sqlite3.Cursor, last_try: Callable[[], object]) -> None:
    """BEGIN IMMEDIATE, tried again every WRITE_LOCK_POLL_SECONDS while another writer holds the
    lock, for up to BUSY_TIMEOUT_SECONDS (then `last_try`, whose error tells why).

    SQLite's own busy handler waits longer and longer between tries (up to 100 ms each): a writer
    that commits every few milliseconds, like a send's journal, then takes the lock again before
    the waiting one looks, and one-click POSTs waited over a second behind a send.
    """
    driver.execute("PRAGMA busy_timeout = 0")
    try:
        _poll_begin_immediate(driver, last_try)
    finally:
        driver.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")


def _poll_begin_immediate(driver: sqlite3.Connection | sqlite3.Cursor, last_try: Callable[[], object]) -> None:
    """`_begin_immediate` on a connection whose busy_timeout is 0 for good (`_POLLS`): SQLite
    parses a PRAGMA again at every run (it takes effect as it is prepared), and the two of them
    were a tenth of a send journal's commit."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            driver.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # (the extended code: BUSY_RECOVERY too)
                raise
        time.sleep(WRITE_LOCK_POLL_SECONDS)
    last_try()


def _write_lock_taker(connection: Connection) -> Callable[..., None]:
    """How a SQLite transaction of `connection` begins: polling alone on a connection whose
    busy_timeout stays 0 (`Database.rows_writer_connection`), else setting it to 0 and back."""
    return _poll_begin_immediate if connection.info.get(_POLLS) else _begin_immediate


def _take_write_lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")


def _tune_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(_IMMEDIATE):
            _take_write_lock(connection)


def create_engine_for(url: str | URL, cache_mib: float = CACHE_MIB) -> Engine:
    """An engine for any SQLAlchemy URL; SQLite files get their folder created and the tuning above."""
    try:
        parsed = make_url(url)
        backend, file = parsed.get_backend_name(), parsed.database
        if backend == "sqlite" and file and file != ":memory:":
            Path(file).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {}
        if backend == "postgresql" and "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        engine = create_engine(parsed, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise GbaletterError(f"database url {url!s}: {exc}") from None
    except OSError as exc:
        raise GbaletterError(f"database {url!s}: cannot create its folder: {exc.strerror}") from None
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine, cache_mib)
    elif engine.dialect.name == "postgresql":
        _tune_postgresql(engine)
    return engine


@dataclass
class Database:
    """The engine of one workspace and its sessions.

    `session()` is a read-write unit of work, committed when the block ends without an error;
    `reader()` is for reads that may take long (listing, exporting, streaming a segment) without
    holding the write lock. `timezone` is the workspace's: segment expressions read dates in it.
    """

    engine: Engine
    timezone: tzinfo = UTC
    _writer: sessionmaker[Session] = field(init=False, repr=False)
    _reader: sessionmaker[Session] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        info = {"timezone": self.timezone}
        self._writer = sessionmaker(self.engine.execution_options(**{_IMMEDIATE: True}),
                                    info=info, expire_on_commit=False)
        self._reader = sessionmaker(self.engine, info=info, expire_on_commit=False)

    @contextmanager
    def session(self, *, commit: bool = True) -> Iterator[Session]:
        """A write transaction; with `commit=False` it is rolled back at the end (dry runs)."""
        with self._writer() as session, session.begin() as transaction:
            yield session
            if not commit:
                transaction.rollback()

    @contextmanager
    def rows_session(self) -> Iterator[Session]:
        """A write transaction for adding rows nobody else changes, reading the list without
        changing it (a send freezing its recipients): on PostgreSQL it does not take the list's
        write lock, so the list's writers (one-click unsubscribes) do not wait for it; what it
        reads of the list it locks FOR KEY SHARE itself where it must. On SQLite it is `session`."""
        with self.session() if self.engine.dialect.name == "sqlite" else self.reader() as session:
            yield session

    def writer_connection(self) -> Connection:
        """A Core connection of its own whose transactions take the write lock at BEGIN.

        For hot write paths (the send journal's group commits) that cannot afford a session and a
        pool check-out per transaction; the caller closes it.
        """
        return self.engine.execution_options(**{_IMMEDIATE: True}).connect()

    def rows_writer_connection(self) -> Connection:
        """Like `writer_connection`, for writers that change only rows they hold (a send worker's
        journal rows, locked by their own claims): on PostgreSQL its transactions take the list's
        write lock only when `take_write_lock` asks, so several workers commit side by side. On
        SQLite every write transaction has the file's one write lock anyway.

        On SQLite the connection keeps busy_timeout = 0 for its life: its transactions begin by
        polling for the lock (`_poll_begin_immediate`) without setting it to 0 and back each time, and
        once it holds the lock nothing of its own waits for another writer (a WAL commit and its
        passive checkpoint never call the busy handler). It is detached from the pool, so that
        no other user gets it so; closing it closes it."""
        if self.engine.dialect.name != "sqlite":
            return self.engine.connect()
        connection = self.writer_connection()
        connection.detach()
        _sqlite_driver(connection).execute("PRAGMA busy_timeout = 0")
        connection.info[_POLLS] = True
        return connection

    @contextmanager
    def rows_transaction(self, connection: Connection) -> Iterator[Any]:
        """A transaction of a `rows_writer_connection` run on its DB-API connection (a cursor of
        it), begun as SQLAlchemy's would be, committed at the end, rolled back on an error.

        For hot paths whose statements are `bulk.DriverStatement`s anyway (the send journal's
        group commits): SQLAlchemy's transaction (its objects, events and connection state) is a
        fixed cost a commit that a few rows cannot hide. SQLAlchemy does not know of this
        transaction: nothing may run through `connection` inside it.
        """
        driver: Any = connection.connection.dbapi_connection
        cursor = driver.cursor()
        try:
            if self.engine.dialect.name == "sqlite":
                begin = _write_lock_taker(connection)
                begin(cursor, lambda: cursor.execute("BEGIN IMMEDIATE"))
            # (PostgreSQL: the driver begins at the first statement; no write lock, as above)
            yield cursor
            driver.commit()
        except BaseException:
            driver.rollback()
            raise
        finally:
            cursor.close()

    def take_write_lock(self, connection: Connection) -> None:
        """The list's write lock for the rest of `connection`'s transaction (before it reads what
        it will change elsewhere, e.g. a subscriber it bounces)."""
        _take_write_lock(connection)

    @contextmanager
    def reader(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    @contextmanager
    def erasing(self) -> Iterator[Session]:
        """A write session whose deletions leave no copy of the deleted rows in the files.

        SQLite keeps deleted content in free pages and old page images in the WAL: the session
        deletes with secure_delete on (zeros over deleted content; too slow to leave on for
        imports), and a checkpoint then writes the pages back and truncates the WAL.
        """
        sqlite = self.engine.dialect.name == "sqlite"
        with self.session() as session:
            connection = session.connection()
            if sqlite:
                connection.exec_driver_sql("PRAGMA secure_delete = ON")
            try:
                yield session
                session.flush()
            finally:
                if sqlite:
                    connection.exec_driver_sql("PRAGMA secure_delete = OFF")
        if sqlite:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def dispose(self) -> None:
        self.engine.dispose()

