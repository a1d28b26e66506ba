"""SQLite's write lock: a writer waiting for it tries again every millisecond (not SQLite's own
growing waits, which let a send's journal keep one-click POSTs out for over a second), gets it as
soon as it is free, and after BUSY_TIMEOUT_SECONDS fails with the usual error, connection intact."""

from __future__ import annotations

import sqlite3
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from gbaletter.db import Database, create_engine_for
from gbaletter.db import engine as engine_module


@pytest.fixture
def database(tmp_path):
    db = Database(create_engine_for(f"sqlite:///{tmp_path / 'lock.db'}"))
    with db.session() as session:
        session.execute(sa.text("CREATE TABLE notes (text TEXT)"))
    yield db, tmp_path / "lock.db"
    db.dispose()


def _hold_write_lock(path, release: threading.Event, taken: threading.Event) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO notes VALUES ('held')")
    taken.set()
    release.wait(10)
    other.execute("COMMIT")
    other.close()


def _notes(db: Database) -> list[str]:
    with db.reader() as session:
        return list(session.scalars(sa.text("SELECT text FROM notes ORDER BY rowid")))


def _held_for(path, seconds: float) -> threading.Thread:
    """Another connection holding the write lock, for `seconds` from now."""
    release, taken = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, release, taken))
    holder.start()
    taken.wait(10)
    threading.Timer(seconds, release.set).start()
    return holder


def test_a_waiting_writer_writes_once_the_lock_is_free(database):
    db, path = database
    holder = _held_for(path, 0.3)
    with db.session() as session:  # waits for the holder, then goes on
        session.execute(sa.text("INSERT INTO notes VALUES ('waited')"))
    holder.join()
    assert _notes(db) == ["held", "waited"]


def test_a_lock_held_too_long_is_the_usual_error_and_the_connection_stays_usable(database,
                                                                                 monkeypatch):
    db, path = database
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_SECONDS", 0.2)
    release, taken = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, release, taken))
    holder.start()
    taken.wait(10)
    with pytest.raises(OperationalError, match="database is locked"), db.session() as session:
        session.execute(sa.text("INSERT INTO notes VALUES ('lost')"))
    release.set()
    holder.join()
    with db.session() as session:
        session.execute(sa.text("INSERT INTO notes VALUES ('after')"))
        assert session.scalar(sa.text("PRAGMA busy_timeout")) == 200  # restored after the tries
    assert _notes(db) == ["held", "after"]


def test_a_rows_transaction_on_the_driver_waits_for_the_lock_and_rolls_back_on_an_error(database):
    """`Database.rows_transaction` (the send journal's group commits) takes the write lock as a
    session does, commits, and leaves nothing of a transaction that failed."""
    db, path = database
    holder = _held_for(path, 0.3)
    connection = db.rows_writer_connection()
    with db.rows_transaction(connection) as cursor:  # waits for the holder, then goes on
        cursor.execute("INSERT INTO notes VALUES ('waited')")
    holder.join()
    with pytest.raises(sqlite3.OperationalError, match="no such table"), \
            db.rows_transaction(connection) as cursor:
        cursor.execute("INSERT INTO notes VALUES ('lost')")
        cursor.execute("INSERT INTO no_such_table VALUES (1)")
    with db.rows_transaction(connection) as cursor:
        cursor.execute("INSERT INTO notes VALUES ('after')")
    connection.close()
    assert _notes(db) == ["held", "waited", "after"]


def test_the_rows_writer_connection_polls_with_busy_timeout_0_for_good_and_the_pool_keeps_its_own(database):
    """The send journal's connection keeps busy_timeout = 0 through its transactions (no two
    PRAGMAs a commit), on the driver's path and on SQLAlchemy's (a commit that bounces), still
    waits for another writer's lock, and lets another writer in between its transactions; the
    pool's connections keep SQLite's busy timeout."""
    db, path = database
    connection = db.rows_writer_connection()
    driver = connection.connection.dbapi_connection
    holder = _held_for(path, 0.3)
    with db.rows_transaction(connection) as cursor:  # waits for the holder, then goes on
        cursor.execute("INSERT INTO notes VALUES ('rows')")
        assert cursor.execute("PRAGMA busy_timeout").fetchone() == (0,)
    holder.join()
    holder = _held_for(path, 0.3)
    with connection.begin():
        connection.exec_driver_sql("INSERT INTO notes VALUES ('orm')")
    holder.join()
    assert driver.execute("PRAGMA busy_timeout").fetchone() == (0,)
    with db.session() as session:  # another writer between the journal's transactions
        session.execute(sa.text("INSERT INTO notes VALUES ('other')"))
        assert session.scalar(sa.text("PRAGMA busy_timeout")) == engine_module.BUSY_TIMEOUT_SECONDS * 1000
    connection.close()
    with db.engine.connect() as pooled:
        assert pooled.exec_driver_sql("PRAGMA busy_timeout").scalar() == engine_module.BUSY_TIMEOUT_SECONDS * 1000
    assert _notes(db) == ["held", "rows", "held", "orm", "other"]
