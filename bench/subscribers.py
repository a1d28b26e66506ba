"""Subscriber list benchmark: import 1,000,000 rows, count and stream a segment.

    python -m bench subscribers [--rows N] [--runs N] [--keep DIR]

Targets (issue 4): import < 30 s with peak RSS < 300 MB; count of SEGMENT < 0.5 s; streaming its
members with flat memory. Each figure is printed next to a reference measured in the same run:
raw sqlite3 `executemany` of the same rows for the import, the same count in hand-written SQL
for the segment. Heavy: run it alone.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEGMENT = 'tag:technology and not tag:finance and attr.lang = "en"'
REFERENCE_COUNT_SQL = """
SELECT count(*) FROM subscribers
WHERE status = 'active'
  AND id IN (SELECT subscriber_id FROM subscriber_tags
             WHERE tag_id = (SELECT id FROM tags WHERE name = 'technology'))
  AND id NOT IN (SELECT subscriber_id FROM subscriber_tags
                 WHERE tag_id = (SELECT id FROM tags WHERE name = 'finance'))
  AND json_extract(attributes, '$.lang') = 'en'
"""
IMPORT_TARGET_S, RSS_TARGET_MB, COUNT_TARGET_S = 30.0, 300.0, 0.5

# Tag -> share of subscribers that have it; about 1.3 tags a person.
TAGS = {"technology": 0.35, "finance": 0.25, "policy": 0.2, "5g": 0.15, "transport": 0.15,
        "briefs": 0.2}
LANGS = (("en", 0.5), ("zh", 0.35), ("pt", 0.15))
CITIES = ("Hong Kong", "Shenzhen", "Guangzhou", "Macau", "Zhuhai", "Dongguan", "Foshan",
          "Huizhou", "Zhongshan", "Jiangmen")
FREE_MAIL = ("gmail.com", "qq.com", "163.com", "outlook.com", "yahoo.com.hk", "hotmail.com",
             "126.com", "icloud.com", "netvigator.com", "sina.com")
CONFIG = """[newsletter]
name = "Bench Weekly"
timezone = "Asia/Hong_Kong"
"""


def generate_csv(path: Path, rows: int, seed: int = 4) -> None:
    """A plain export (email,name,tags,lang,city); lang and city become attributes."""
    rng = random.Random(seed)
    companies = [f"company{i}.com.hk" for i in range(20_000)]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(("email", "name", "tags", "lang", "city"))
        for i in range(rows):
            domain = rng.choice(FREE_MAIL) if rng.random() < 0.6 else rng.choice(companies)
            first = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9)))
            tags = [tag for tag, share in TAGS.items() if rng.random() < share]
            lang = rng.choices([code for code, _ in LANGS], [w for _, w in LANGS])[0]
            writer.writerow((f"{first}.{i}@{domain}", f"{first.title()} Chan {i}", ",".join(tags),
                             lang, rng.choice(CITIES)))


def reference_import(csv_path: Path, db_path: Path) -> float:
    """Raw sqlite3: parse the same CSV and executemany the rows into an indexed table."""
    started = time.perf_counter()
    connection = sqlite3.connect(db_path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("CREATE TABLE subscribers (id INTEGER PRIMARY KEY, email TEXT, "
                       "email_hash TEXT UNIQUE, name TEXT, attributes TEXT, created_at TEXT)")
    now = time.strftime("%Y-%m-%d %H:%M:%S.000000")
    with open(csv_path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        batch = []
        for email, name, _tags, lang, city in reader:
            key = hashlib.sha256(email.lower().encode()).hexdigest()
            batch.append((email, key, name, json.dumps({"lang": lang, "city": city}), now))
            if len(batch) == 5000:
                _insert_reference(connection, batch)
                batch = []
        _insert_reference(connection, batch)
    connection.close()
    return time.perf_counter() - started


def _insert_reference(connection: sqlite3.Connection, batch: list[tuple]) -> None:
    connection.execute("BEGIN")
    connection.executemany("INSERT INTO subscribers (email, email_hash, name, attributes, "
                           "created_at) VALUES (?, ?, ?, ?, ?)", batch)
    connection.execute("COMMIT")


def timed_import(workspace: Path, csv_path: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of `gbaletter subscribers import` in a child process."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gbaletter", "--root", str(workspace), "subscribers",
                    "import", str(csv_path)], check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def median_seconds(function, runs: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def stream_child(root: str) -> None:
    """Stream the segment's members; print count, seconds and peak RSS after 10% and at the end."""
    from gbaletter.config import load_workspace
    from gbaletter.db import open_database
    from gbaletter.subscribers.segments import segment_filter, stream_members

    database = open_database(load_workspace(Path(root)))
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # noqa: E731
    started = time.perf_counter()
    count, early = 0, 0.0
    with database.reader() as session:
        for _member in stream_members(session, segment_filter(session, SEGMENT)):
            count += 1
            if count == 10_000:
                early = peak()
    print(json.dumps({"count": count, "seconds": time.perf_counter() - started,
                      "rss_early_mb": early, "rss_end_mb": peak()}))


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench subscribers")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7, help="runs of the segment count")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--stream-child", help=argparse.SUPPRESS)
    options = parser.parse_args(args)
    if options.stream_child:
        stream_child(options.stream_child)
        return 0
    if options.keep:
        options.keep.mkdir(parents=True, exist_ok=True)
        return run(options, options.keep)
    with tempfile.TemporaryDirectory(prefix="bench-subscribers-") as folder:
        return run(options, Path(folder))


def run(options: argparse.Namespace, folder: Path) -> int:
    from gbaletter.config import load_workspace
    from gbaletter.db import open_database
    from gbaletter.subscribers.segments import count_members, segment_filter

    csv_path = folder / "subscribers.csv"
    workspace = folder / "ws"
    workspace.mkdir(exist_ok=True)
    (workspace / "gbaletter.toml").write_text(CONFIG, encoding="utf-8")
    print(f"generating {options.rows:,} rows ...", flush=True)
    generate_csv(csv_path, options.rows)
    size_mb = csv_path.stat().st_size / 1e6

    import_s, import_rss = timed_import(workspace, csv_path)
    reference_path = folder / "reference.db"
    reference_s = reference_import(csv_path, reference_path)
    reference_path.unlink()

    database = open_database(load_workspace(workspace))
    with database.reader() as session:
        ids = segment_filter(session, SEGMENT)
        count_s, members = median_seconds(lambda: count_members(session, ids), options.runs)
    raw = sqlite3.connect(workspace / "subscribers" / "gbaletter.db")
    raw_s, raw_count = median_seconds(lambda: raw.execute(REFERENCE_COUNT_SQL).fetchone()[0],
                                      options.runs)
    raw.close()
    database.dispose()
    if members != raw_count:
        print(f"error: segment count {members} differs from the raw SQL count {raw_count}")
        return 1

    child = subprocess.run([sys.executable, "-m", "bench", "subscribers", "--stream-child",
                            str(workspace)], check=True, capture_output=True, text=True)
    stream = json.loads(child.stdout)

    print(f"\nrows: {options.rows:,} ({size_mb:.0f} MB CSV)")
    print(f"import:  {import_s:6.1f} s  ({options.rows / import_s:,.0f} rows/s), "
          f"peak RSS {import_rss:.0f} MB  [target < {IMPORT_TARGET_S:.0f} s, "
          f"< {RSS_TARGET_MB:.0f} MB: "
          f"{verdict(import_s < IMPORT_TARGET_S and import_rss < RSS_TARGET_MB)}]")
    print(f"         reference raw sqlite3 executemany {reference_s:.1f} s "
          f"(ratio {import_s / reference_s:.1f}x)")
    print(f"segment: {SEGMENT}")
    print(f"count:   {count_s:6.3f} s median of {options.runs}, {members:,} members "
          f"[target < {COUNT_TARGET_S} s: {verdict(count_s < COUNT_TARGET_S)}]")
    print(f"         reference raw SQL {raw_s:.3f} s (ratio {count_s / raw_s:.2f}x)")
    print(f"stream:  {stream['seconds']:6.1f} s for {stream['count']:,} members; peak RSS "
          f"{stream['rss_early_mb']:.0f} MB after 10,000, {stream['rss_end_mb']:.0f} MB at the end")
    return 0
