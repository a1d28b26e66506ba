"""Subscriber list: import a generated 1,000,000-row CSV, count and stream a segment.

    python -m bench subscribers [ROWS] [RUNS]

Targets (issue 22): import in at most 10 s with the importer and its parser under 150 MB peak
RSS together; counting SEGMENT in at most 0.15 s; streaming its members with flat memory.
References measured in the same run: raw sqlite3 executemany of the same rows into the same
tables (no checks) for the import, the same count written by hand in SQL for the segment.
Heavy (a minute or two, 2 cores): run it alone.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import median_seconds, report

SEGMENT = 'tag:technology and not tag:finance and attr.lang = "en"'
REFERENCE_COUNT = """
SELECT count(*) FROM subscribers s
WHERE s.id IN (SELECT subscriber_id FROM subscriber_tags
               WHERE tag_id = (SELECT id FROM tags WHERE name = 'technology'))
  AND NOT EXISTS (SELECT 1 FROM subscriber_tags st WHERE st.subscriber_id = s.id
                  AND st.tag_id = (SELECT id FROM tags WHERE name = 'finance'))
  AND json_extract(s.attributes, '$.lang') = 'en'
  AND s.status = 'active'
  AND s.email_hash NOT IN (SELECT email_hash FROM suppressions)
"""
# Share of subscribers with each tag (about 1.3 tags a person), and of each language.
TAGS = {"technology": 0.35, "finance": 0.25, "policy": 0.2, "5g": 0.15, "transport": 0.15,
        "briefs": 0.2}
LANGS = {"en": 0.5, "zh": 0.35, "pt": 0.15}
CITIES = ("Hong Kong", "Shenzhen", "Guangzhou", "Macau", "Zhuhai", "Dongguan", "Foshan",
          "Huizhou", "Zhongshan", "Jiangmen")
FREE_MAIL = ("gmail.com", "qq.com", "163.com", "outlook.com", "yahoo.com.hk", "hotmail.com",
             "126.com", "icloud.com", "netvigator.com", "sina.com")
COMPANIES = 20_000  # distinct company domains: each is validated once
BATCH = 50_000
CONFIG = '[newsletter]\nname = "Bench Weekly"\ntimezone = "Asia/Hong_Kong"\n'


def generate(path: Path, rows: int, seed: int = 4) -> None:
    """A plain export, `email,name,tags,lang,city`: lang and city become attributes."""
    rng = random.Random(seed)
    companies = [f"company{i}.com.hk" for i in range(COMPANIES)]
    langs, weights = list(LANGS), list(LANGS.values())
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(("email", "name", "tags", "lang", "city"))
        for i in range(rows):
            domain = rng.choice(FREE_MAIL) if rng.random() < 0.6 else rng.choice(companies)
            first = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9)))
            tags = ",".join(tag for tag, share in TAGS.items() if rng.random() < share)
            writer.writerow((f"{first}.{i}@{domain}", f"{first.title()} Chan {i}", tags,
                             rng.choices(langs, weights)[0], rng.choice(CITIES)))


def _workspace(folder: Path) -> Path:
    folder.mkdir()
    (folder / "gbaletter.toml").write_text(CONFIG, encoding="utf-8")
    return folder


def _vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children_vmhwm_mb(peaks: dict[int, float], stop: threading.Event) -> None:
    """Each child process's VmHWM as last read, every 20 ms until `stop`.

    Not getrusage(RUSAGE_CHILDREN).ru_maxrss: a child started by fork (or vfork) and exec is
    charged the parent's peak at the exec, whatever it uses itself.
    """
    own = os.getpid()
    while not stop.wait(0.02):
        try:
            children = Path(f"/proc/{own}/task/{own}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks[int(child)] = int(line.split()[1]) / 1024


def import_child(root: str, csv_path: str) -> None:
    """Run `gbaletter subscribers import` in this process; print the peak RSS and CPU seconds of
    it and of its parser process (on two idle cores the wall time is about the larger CPU)."""
    from gbaletter.cli import cli

    peaks: dict[int, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_children_vmhwm_mb, args=(peaks, stop), daemon=True)
    watcher.start()
    try:
        cli.main(["--root", root, "subscribers", "import", csv_path, "--json"], standalone_mode=False)
    finally:
        stop.set()
        watcher.join()
    own, parser = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                       resource.RUSAGE_CHILDREN))
    print(json.dumps({"importer_mb": _vmhwm_mb(), "parser_mb": max(peaks.values(), default=0.0),
                      "importer_cpu": own.ru_utime + own.ru_stime,
                      "parser_cpu": parser.ru_utime + parser.ru_stime}))


def stream_child(root: str) -> None:
    """Stream the segment's members; print count, seconds and VmHWM after 10,000 and at the end."""
    from gbaletter.config import load_workspace
    from gbaletter.db import open_database
    from gbaletter.subscribers.segments import segment_filter, stream_members

    database = open_database(load_workspace(Path(root)))
    started, count, early = time.perf_counter(), 0, 0.0
    with database.reader() as session:
        for _member in stream_members(session, segment_filter(session, SEGMENT)):
            count += 1
            if count == 10_000:
                early = _vmhwm_mb()
    print(json.dumps({"count": count, "seconds": time.perf_counter() - started,
                      "early_mb": early, "end_mb": _vmhwm_mb()}))


def _child(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench", "subscribers", *args], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def reference_import(csv_path: Path, root: Path) -> float:
    """Raw sqlite3: the same rows into the same tables, no checks, same batches; seconds."""
    from gbaletter.config import load_workspace
    from gbaletter.db import open_database
    from gbaletter.db.engine import CACHE_MIB, CHECKPOINT_PAGES

    open_database(load_workspace(root)).dispose()  # the schema, by the migrations
    connection = sqlite3.connect(root / "subscribers" / "gbaletter.db", isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON",
                   f"cache_size = -{CACHE_MIB * 1024}", f"wal_autocheckpoint = {CHECKPOINT_PAGES}"):
        connection.execute(f"PRAGMA {pragma}")
    started = time.perf_counter()
    connection.executemany("INSERT INTO tags (id, name) VALUES (?, ?)", enumerate(TAGS, 1))
    tag_ids = {name: i for i, name in enumerate(TAGS, 1)}
    now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    with open(csv_path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        batch, next_id = [], 1
        for email, name, tags, lang, city in reader:
            batch.append((email, hashlib.sha256(email.lower().encode()).digest(), name,
                          json.dumps({"lang": lang, "city": city}), now, tags))
            if len(batch) == BATCH:
                next_id = _reference_batch(connection, batch, next_id, tag_ids)
                batch = []
        _reference_batch(connection, batch, next_id, tag_ids)
    connection.close()
    return time.perf_counter() - started


def _reference_batch(connection: sqlite3.Connection, batch: list, next_id: int,
                     tag_ids: dict[str, int]) -> int:
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(
        "INSERT INTO subscribers (id, email, email_hash, name, status, attributes, consent_source,"
        " created_at, updated_at, status_changed_at) VALUES (?, ?, ?, ?, 'active', ?, 'bench',"
        " ?, ?, ?)", [(next_id + i, e, k, n, a, t, t, t) for i, (e, k, n, a, t, _) in enumerate(batch)])
    connection.executemany("INSERT INTO subscriber_tags VALUES (?, ?)", [
        (next_id + i, tag_ids[tag]) for i, row in enumerate(batch) for tag in row[5].split(",") if tag])
    connection.execute("COMMIT")
    return next_id + len(batch)


def main(args: list[str]) -> None:
    if args[:1] == ["--import-child"]:
        return import_child(*args[1:3])
    if args[:1] == ["--stream-child"]:
        return stream_child(args[1])
    rows = int(args[0]) if args else 1_000_000
    runs = int(args[1]) if len(args) > 1 else 7
    with tempfile.TemporaryDirectory(prefix="bench-subscribers-") as tmp:
        folder = Path(tmp)
        csv_path = folder / "subscribers.csv"
        generate(csv_path, rows)
        print(f"subscribers: {rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB CSV), "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")

        reference_s = reference_import(csv_path, _workspace(folder / "reference"))
        root = _workspace(folder / "ws")
        from gbaletter.config import load_workspace
        from gbaletter.db import open_database

        open_database(load_workspace(root)).dispose()  # the schema, as for the reference
        started = time.perf_counter()
        peaks = _child("--import-child", str(root), str(csv_path))
        import_s = time.perf_counter() - started

        from gbaletter.subscribers.segments import count_members, segment_filter

        database = open_database(load_workspace(root))
        with database.reader() as session:
            ids = segment_filter(session, SEGMENT)
            members = count_members(session, ids)
            count_s = median_seconds(lambda: count_members(session, ids), runs)
            count_cpu = median_seconds(lambda: count_members(session, ids), runs, clock=time.process_time)
        database.dispose()
        raw = sqlite3.connect(root / "subscribers" / "gbaletter.db")
        raw_count = raw.execute(REFERENCE_COUNT).fetchone()[0]
        raw_s = median_seconds(lambda: raw.execute(REFERENCE_COUNT).fetchone(), runs)
        raw_cpu = median_seconds(lambda: raw.execute(REFERENCE_COUNT).fetchone(), runs,
                                 clock=time.process_time)
        raw.close()
        if members != raw_count:
            sys.exit(f"segment count {members} differs from the hand-written SQL's {raw_count}")
        stream = _child("--stream-child", str(root))

    report("raw sqlite3 executemany, same rows (reference)", reference_s, "s")
    report("import: wall time, whole command", import_s, "s", reference_s, "<= 10 s")
    report(f"import: rows/s ({rows:,} rows)", rows / import_s, "rows/s")
    report("import: CPU, importer process", peaks["importer_cpu"], "s")
    report("import: CPU, its parser process", peaks["parser_cpu"], "s")
    report("import: peak RSS, importer process (VmHWM)", peaks["importer_mb"], "MB")
    report("import: peak RSS, its parser process (VmHWM)", peaks["parser_mb"], "MB")
    report("import: peak RSS, the two together", peaks["importer_mb"] + peaks["parser_mb"], "MB",
           None, "< 150 MB")
    print(f"  segment: {SEGMENT} -> {members:,} members")
    report("hand-written SQL count (reference)", raw_s, "s")
    report(f"count_members(segment_filter(...)), median of {runs}", count_s, "s", raw_s, "<= 0.15 s")
    report("hand-written SQL count, CPU (reference)", raw_cpu, "s")
    report("count_members, CPU (process_time)", count_cpu, "s", raw_cpu)
    report(f"stream_members: {stream['count']:,} members", stream["seconds"], "s")
    report("stream: peak RSS after 10,000 members", stream["early_mb"], "MB")
    report("stream: peak RSS at the end", stream["end_mb"], "MB")


if __name__ == "__main__":
    main(sys.argv[1:])
