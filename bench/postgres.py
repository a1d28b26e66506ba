"""The subscriber list on PostgreSQL: import the generated 1,000,000-row CSV, count a segment.

    python -m bench postgres [ROWS] [RUNS]        (defaults: 1000000 7)

References measured in the same run, on the same server: psycopg `COPY` of the same rows into
the same tables (no checks, ids given) for the import; the same count written by hand in SQL for
the segment. The server is a cluster of its own started with scripts/postgres under /tmp (crash
safe: fsync on), or the one in GBALETTER_BENCH_DATABASE_URL (its database must be empty).
Heavy (a minute or two, 2 cores): run it alone.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from bench.common import median_seconds, process_cpu, report
from bench.subscribers import CONFIG, SEGMENT, TAGS, generate
from bench.subscribers import REFERENCE_COUNT as SQLITE_REFERENCE_COUNT

REPO = Path(__file__).resolve().parents[1]
# the hand-written SQL of bench/subscribers.py, with PostgreSQL's JSON operator
REFERENCE_COUNT = SQLITE_REFERENCE_COUNT.replace("json_extract(s.attributes, '$.lang')",
                                                 "s.attributes ->> 'lang'")


@contextmanager
def server() -> Iterator[str]:
    """The URL of a server with an empty database: given, or a cluster started for the run."""
    given = os.environ.get("GBALETTER_BENCH_DATABASE_URL")
    if given:
        yield given
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
    script = str(REPO / "scripts" / "postgres")
    try:
        started = subprocess.run([script, "start", "--dir", str(folder)], check=True,
                                 capture_output=True, text=True)
        yield started.stdout.strip()
    finally:
        subprocess.run([script, "stop", "--dir", str(folder)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _connect(url: str, database: str | None = None) -> psycopg.Connection:
    parsed = make_url(url)
    return psycopg.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                           password=parsed.password, dbname=database or parsed.database)


def _fresh_database(url: str, name: str) -> str:
    with _connect(url) as admin:
        admin.autocommit = True
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _drop_database(url: str, name: str) -> None:
    with _connect(url) as admin:
        admin.autocommit = True
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _migrate(url: str, root: Path) -> None:
    from gbaletter.config import load_workspace
    from gbaletter.db import open_database

    os.environ["GBALETTER_DATABASE_URL"] = url
    open_database(load_workspace(root)).dispose()


def reference_import(csv_path: Path, url: str) -> float:
    """psycopg COPY: the same rows (hashed, JSON attributes) into the same tables (migrated); seconds."""
    started = time.perf_counter()
    tag_ids = {name: i for i, name in enumerate(TAGS, 1)}
    with _connect(url) as connection, connection.cursor() as cursor:
        with cursor.copy("COPY tags (id, name) FROM STDIN") as copy:
            for name, i in tag_ids.items():
                copy.write_row((i, name))
        links = []
        columns = ("id, email, email_hash, name, status, attributes, consent_source, created_at, "
                   "updated_at, status_changed_at")
        with cursor.copy(f"COPY subscribers ({columns}) FROM STDIN") as copy:
            now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
            with open(csv_path, encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                next(reader)
                for i, (email, name, tags, lang, city) in enumerate(reader, 1):
                    copy.write_row((i, email, hashlib.sha256(email.lower().encode()).digest(), name,
                                    "active", json.dumps({"lang": lang, "city": city}), "bench",
                                    now, now, now))
                    links += [(i, tag_ids[tag]) for tag in tags.split(",") if tag]
        with cursor.copy("COPY subscriber_tags (subscriber_id, tag_id) FROM STDIN") as copy:
            for link in links:
                copy.write_row(link)
        cursor.execute("SELECT setval('subscribers_id_seq', (SELECT max(id) FROM subscribers))")
        connection.commit()
    return time.perf_counter() - started


def _import(csv_path: Path, url: str, root: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench", "subscribers", "--import-child", str(root),
                           str(csv_path)], check=True, capture_output=True, text=True,
                          env={**os.environ, "GBALETTER_DATABASE_URL": url})
    return time.perf_counter() - started, json.loads(done.stdout.splitlines()[-1])


def server_cpu(url: str) -> float:
    """CPU seconds used so far by every process of the server (its backends included): /proc only,
    so that sampling it (a clock read before and after each timed call) adds no backend's work."""
    pid = _postmaster(url)
    return sum(process_cpu(process, children=True) for process in [pid, *_children(pid)])


@functools.cache
def _postmaster(url: str) -> int:
    """The server's process id, asked once per URL (a connection each time would start a backend,
    whose CPU the postmaster then counts as its children's)."""
    with _connect(url) as connection:
        data = connection.execute("SHOW data_directory").fetchone()[0]
    return int(Path(data, "postmaster.pid").read_text().split()[0])


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in found.read_text().split()] if found.exists() else []


def main(args: list[str]) -> None:
    rows = int(args[0]) if args else 1_000_000
    runs = int(args[1]) if len(args) > 1 else 7
    with tempfile.TemporaryDirectory(prefix="bench-postgres-") as tmp, server() as url:
        folder = Path(tmp)
        csv_path = folder / "subscribers.csv"
        generate(csv_path, rows)
        print(f"postgres: {rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB CSV), "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
        for name in ("reference", "ws"):
            (folder / name).mkdir()
            (folder / name / "gbaletter.toml").write_text(CONFIG, encoding="utf-8")

        reference_url = _fresh_database(url, "bench_reference")
        _migrate(reference_url, folder / "reference")
        cpu_before, client_before = server_cpu(url), time.process_time()
        reference_s = reference_import(csv_path, reference_url)
        reference_cpu = time.process_time() - client_before, server_cpu(url) - cpu_before
        _drop_database(url, "bench_reference")  # or its autovacuum runs during the import, counted there
        import_url = _fresh_database(url, "bench_import")
        _migrate(import_url, folder / "ws")
        cpu_before = server_cpu(url)
        import_s, peaks = _import(csv_path, import_url, folder / "ws")
        server_s = server_cpu(url) - cpu_before

        from gbaletter.config import load_workspace
        from gbaletter.db import open_database
        from gbaletter.subscribers.segments import count_members, segment_filter

        os.environ["GBALETTER_DATABASE_URL"] = import_url
        database = open_database(load_workspace(folder / "ws"))
        with database.reader() as session:
            ids = segment_filter(session, SEGMENT)
            members = count_members(session, ids)
            count_s = median_seconds(lambda: count_members(session, ids), runs)
            count_cpu = median_seconds(lambda: count_members(session, ids), runs,
                                       clock=lambda: time.process_time() + server_cpu(url))
        database.dispose()
        with _connect(import_url) as raw:
            raw.execute("ANALYZE")
            raw_count = raw.execute(REFERENCE_COUNT).fetchone()[0]
            raw_s = median_seconds(lambda: raw.execute(REFERENCE_COUNT).fetchone(), runs)
        if members != raw_count:
            sys.exit(f"segment count {members} differs from the hand-written SQL's {raw_count}")

    report("psycopg COPY, same rows (reference)", reference_s, "s")
    report("reference: CPU, this process", reference_cpu[0], "s")
    report("reference: CPU, PostgreSQL server", reference_cpu[1], "s")
    report("import: wall time, whole command", import_s, "s", reference_s)
    report(f"import: rows/s ({rows:,} rows)", rows / import_s, "rows/s")
    report("import: CPU, importer process", peaks["importer_cpu"], "s")
    report("import: CPU, its parser process", peaks["parser_cpu"], "s")
    report("import: CPU, PostgreSQL server", server_s, "s")
    report("import: peak RSS, importer process (VmHWM)", peaks["importer_mb"], "MB")
    report("import: peak RSS, its parser process (VmHWM)", peaks["parser_mb"], "MB")
    print(f"  segment: {SEGMENT} -> {members:,} members")
    report("hand-written SQL count (reference)", raw_s, "s")
    report(f"count_members(segment_filter(...)), median of {runs}", count_s, "s", raw_s, "<= 0.3 s")
    report("count_members, CPU: this process + the server", count_cpu, "s")


if __name__ == "__main__":
    main(sys.argv[1:])
