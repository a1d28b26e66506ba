"""An import into an empty list on SQLite is one transaction with the unique index and the
attribute entries built after the rows: the same list as batches make, or nothing at all."""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path

import pytest
import sqlalchemy as sa

from support.subscriber_helpers import open_db

from gbaletter.db import Database
from gbaletter.errors import GbaletterError
from gbaletter.interrupts import StopRequested
from gbaletter.subscribers import importer
from gbaletter.subscribers.importer import CsvImport, ImportReport
from gbaletter.subscribers.segments import count_members, segment_filter

pytestmark = pytest.mark.sqlite_only

SEGMENTS = ['tag:technology and not tag:finance and attr.lang = "en"', "attr.city = Macau",
            "tag:policy", 'attr.lang = "zh" and not tag:technology']
# What the load leaves as it was: the unique index, the triggers, the other indexes.
SCHEMA = "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'subscribers' ORDER BY name"
TABLES = {  # what is compared, in an order that is the same whatever the ids are
    "subscribers": "SELECT id, email, hex(email_hash), name, status, attributes, consent_source, "
                   "language FROM subscribers ORDER BY id",
    "tags": "SELECT s.id, t.name FROM subscriber_tags st JOIN subscribers s ON s.id = st.subscriber_id "
            "JOIN tags t ON t.id = st.tag_id ORDER BY 1, 2",
    "entries": "SELECT key, value, subscriber_id FROM subscriber_attributes ORDER BY 1, 2, 3",
    "suppressions": "SELECT hex(email_hash), reason, detail FROM suppressions ORDER BY 1",
}


def _write_members(path: Path, extra: list[tuple[str, ...]] = ()) -> Path:  # type: ignore[assignment]
    """Rows in chunks of 4 (the test's chunk size): repeats within a chunk and across chunks,
    a later row of an address that unsubscribes, an unsubscribed first row repeated as active,
    null, nested and over-long attributes, and rejected rows."""
    rows = [("email", "name", "tags", "status", "attributes", "lang", "city")]
    for n in range(40):
        rows.append((f"reader{n}@example.org", f"Reader {n}",
                     ",".join(tag for i, tag in enumerate(("technology", "finance", "policy")) if n % (i + 2) == 0),
                     "unsubscribed" if n % 11 == 3 else "",
                     json.dumps({"age": n, "vip": n % 2 == 0, "note": None, "deep": {"a": 1}, "long": "x" * 300}),
                     ("en", "zh", "pt")[n % 3], ("Macau", "Hong Kong")[n % 2]))
    rows += [
        ("READER1@example.org", "Later", "policy", "", "", "pt", "Zhuhai"),  # another chunk
        ("reader2@example.org", "Later", "", "unsubscribed", "", "", ""),  # first was active
        ("reader3@example.org", "Later", "", "", "", "en", ""),  # first was unsubscribed
        ("reader40@example.org", "Forty", "finance", "", "", "", "Macau"),
        ("reader40@example.org", "Same chunk", "", "", "", "", ""),
        ("not an address", "Rejected", "", "", "", "", ""),
        *extra,
        ("reader41@example.org", "Last", "technology", "bounced", "", "en", ""),
    ]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _run(database: Database, members: Path, *, batched: bool) -> ImportReport:
    return CsvImport(database, members, batch_size=6, batched=batched).run()


def _contents(database: Database) -> dict[str, list[tuple]]:
    with database.engine.connect() as connection:
        found: dict[str, list[tuple]] = {name: [tuple(row) for row in connection.exec_driver_sql(sql)]
                                         for name, sql in TABLES.items()}
        found["schema"] = [tuple(row) for row in connection.exec_driver_sql(SCHEMA)]
    with database.reader() as session:
        found["segments"] = [(count_members(session, segment_filter(session, expression)),)
                             for expression in SEGMENTS]
    return found


@pytest.fixture
def small_chunks(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(importer, "CHUNK_SIZE", 4)


def test_one_transaction_makes_the_list_batches_make(tmp_path, small_chunks):
    members = _write_members(tmp_path / "members.csv")
    made = {}
    for name, batched in (("batched", True), ("whole", False)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "gbaletter.toml").write_text('[newsletter]\nname = "T"\n', encoding="utf-8")
        database = open_db(tmp_path / name)
        report = _run(database, members, batched=batched)
        assert report.one_transaction is not batched
        made[name] = (_contents(database), {**report.as_dict(), "one_transaction": None, "rejects_file": None})
        database.dispose()
    whole, batched_ = made["whole"], made["batched"]
    for part in (*TABLES, "schema", "segments"):
        assert whole[0][part] == batched_[0][part], part
    assert whole[1] == batched_[1]
    assert (whole[1]["added"], whole[1]["duplicates"], whole[1]["suppressed"], whole[1]["rejected"]) == \
        (37, 3, 6, 1)  # a repeat of an unsubscribed row: suppressed
    ids = [row[0] for row in whole[0]["subscribers"]]
    assert ids == sorted(ids) and len(ids) == 42
    assert {row[1] for row in whole[0]["entries"]} >= {"en", "zh", "Macau", "30", "1", "0"}


def test_the_address_is_still_unique_after_the_load(workspace_dir, run_cli, small_chunks):
    members = _write_members(workspace_dir / "members.csv")
    database = open_db(workspace_dir)
    first = _run(database, members, batched=False)
    assert first.one_transaction
    again = CsvImport(database, members).run()  # a list no longer empty: batches
    assert not again.one_transaction and (again.added, again.updated) == (0, 0)
    result = run_cli(workspace_dir, "subscribers", "add", "Reader5@example.org")
    assert result.exit_code != 0 and "already" in result.stderr
    with database.engine.connect() as connection, pytest.raises(sa.exc.IntegrityError):
        connection.exec_driver_sql("INSERT INTO subscribers (email, email_hash, name, status, attributes, "
                                   "consent_source, created_at, updated_at, status_changed_at) SELECT "
                                   "email, email_hash, name, status, attributes, consent_source, "
                                   "created_at, updated_at, status_changed_at FROM subscribers LIMIT 1")


def _check_left_empty(database: Database, schema: list[tuple]) -> None:
    assert _contents(database)["schema"] == schema
    with database.engine.connect() as connection:
        for table in ("subscribers", "subscriber_tags", "subscriber_attributes", "suppressions"):
            assert connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0, table


def test_an_error_midway_leaves_the_list_empty_and_the_schema_whole(workspace_dir, small_chunks):
    members = _write_members(workspace_dir / "members.csv", [("big@example.org", "y" * 140_000, "", "", "", "", "")])
    database = open_db(workspace_dir)
    schema = _contents(database)["schema"]
    job = CsvImport(database, members, batch_size=6)
    with pytest.raises(GbaletterError, match="field larger than field limit"):
        job.run()
    assert job.report.one_transaction and job.report.saved == 0
    _check_left_empty(database, schema)
    _write_members(members)
    assert _run(database, members, batched=False).added == 37


def test_ctrl_c_midway_saves_nothing(workspace_dir, small_chunks):
    """The first Ctrl-C stops the load at the next batch, saving nothing (a real signal to a real
    process, and what the command says: test_import_csv_interrupt)."""
    members = _write_members(workspace_dir / "members.csv")
    database = open_db(workspace_dir)
    schema = _contents(database)["schema"]
    job = CsvImport(database, members, batch_size=6)

    def ctrl_c_once(report: ImportReport) -> None:
        if report.lines_done > 20 and not report.rejected:
            report.rejected = -1  # (only once: the report is reset when the import stops)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(StopRequested):
        job.run(ctrl_c_once)
    assert job.report.one_transaction and job.report.saved == 0
    _check_left_empty(database, schema)
    assert _run(database, members, batched=False).added == 37


def test_ctrl_c_while_the_load_finishes_saves_everything(workspace_dir, small_chunks, monkeypatch):
    """A stop that arrives after the last row (while the index is built and the transaction
    commits) cannot save less than everything: the import completes and says so, instead of
    raising StopRequested for a list that was in fact saved whole."""
    members = _write_members(workspace_dir / "members.csv")
    database = open_db(workspace_dir)
    finish = importer.EmptyListLoad.finish

    def ctrl_c_then_finish(load: importer.EmptyListLoad) -> list[str]:
        os.kill(os.getpid(), signal.SIGINT)
        return finish(load)

    monkeypatch.setattr(importer.EmptyListLoad, "finish", ctrl_c_then_finish)
    job = CsvImport(database, members, batch_size=6)
    report = job.run()
    assert job.finishing and report.one_transaction and (report.added, report.suppressed) == (37, 6)
    saved = _contents(database)
    assert len(saved["subscribers"]) == 42 and saved["entries"]  # as test_one_transaction_... has it
