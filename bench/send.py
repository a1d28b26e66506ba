"""Sending the sample issue to N subscribers into Postfix's smtp-sink, journal on.

Reference, in the same run: Postfix's smtp-source sending the same number of messages of the
same size at the same concurrency into the same smtp-sink. Needs the Debian package postfix
(only its smtp-sink and smtp-source binaries are used; no mail system is started).

    python -m bench send [RECIPIENTS] [CONCURRENCY] [WORKERS] [--editions 3]   (defaults: 100000 16 1)

smtp-sink is one process on one core: what receiving the messages cost it (its CPU a message,
and the share of its core it was busy, for the send and for smtp-source) is reported too, with a
note when it was nearly always busy, as a rate is then the sink's as much as the sender's.

With GBALETTER_DATABASE_URL naming an empty PostgreSQL database the list and the journal live
there (WORKERS > 1: `issue send --workers`); the server's CPU is then reported too.

`--editions 3` sends the same issue twice in the same run, each time from a fresh workspace and
database: once as a one-edition desk (everyone reads English), once as a three-edition desk
(en, zh-Hant, zh-Hans; the subscribers split in thirds, the manifest giving each Chinese edition
its own subject), and prints both sends' figures and their ratio (issue 19: a three-edition send
within 10% of the speed of a one-edition send). SQLite only: each send needs an empty database.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select

from gbaletter.config import load_workspace
from gbaletter.db import open_database, utcnow
from gbaletter.delivery import journal
from gbaletter.subscribers.addresses import email_hash
from gbaletter.subscribers.models import Status, Subscriber, Tag, subscriber_tags

from .build import ISSUE, copy_workspace
from .common import process_cpu, report
from .postgres import server_cpu

BATCH = 50_000
REFERENCE_MESSAGES = 100_000  # smtp-source's rate is steady well before this
# smtp-sink busier than this share of its one core while receiving: what receives the messages
# may be what sets the rate (`top` saw it at 0.83-0.97 of a core in every send, 2-core machine,
# 2026-12-06)
SINK_SATURATED = 0.8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_subscribers(db, count: int, languages: tuple[str, ...] = ("en",)) -> None:
    """N active subscribers tagged `technology`, inserted in bulk (Core, batches); reader n reads
    languages[n % len(languages)], so several languages split the list evenly."""
    now = utcnow()
    with db.session() as session:
        tag = Tag(name="technology")
        session.add(tag)
        session.flush()
        tag_id = tag.id
    for start in range(0, count, BATCH):
        with db.session() as session:
            rows = [{"email": f"reader{n}@example.org", "email_hash": email_hash(f"reader{n}@example.org"),
                     "name": f"Reader {n}", "status": Status.ACTIVE, "attributes": {},
                     "consent_source": "bench", "created_at": now, "updated_at": now,
                     "status_changed_at": now, "language": languages[n % len(languages)]}
                    for n in range(start, min(count, start + BATCH))]
            session.execute(insert(Subscriber), rows)
        with db.session() as session:
            ids = session.scalars(select(Subscriber.id).where(Subscriber.id > start)).all()
            session.execute(insert(subscriber_tags),
                            [{"subscriber_id": i, "tag_id": tag_id} for i in ids])


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else "")
    if not path:
        sys.exit(f"{name} not found: install the Debian package postfix (apt-get install postfix)")
    return path


def _sink(port: int) -> subprocess.Popen:
    args = [_tool("smtp-sink")]
    if os.geteuid() == 0:
        args += ["-u", "nobody"]
    process = subprocess.Popen([*args, f"127.0.0.1:{port}", "1000"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    sys.exit("smtp-sink did not start")


def _children_cpu() -> tuple[float, float]:
    """The waited-for children's CPU seconds so far: user and kernel."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime


def _cpu_us_since(before: tuple[float, float], messages: int) -> tuple[float, float]:
    """The children's CPU a message since `before`: all of it, and the kernel's part."""
    user, kernel = (now - then for now, then in zip(_children_cpu(), before, strict=True))
    return (user + kernel) / messages * 1e6, kernel / messages * 1e6


def _watch_peak_kb(process: subprocess.Popen, sink: _SinkMeter | None = None) -> int:
    """The child's own high-water RSS, read from /proc while it runs (and a sink's CPU sampled
    at each look, for its share of a core while it was receiving: `_SinkMeter`).

    getrusage/wait4 would not do: at exec Linux folds the forking parent's high-water mark into
    the child's, and this benchmark's own process is large after making the subscribers.
    """
    peak = 0
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        if sink is not None:
            sink.sample()
        time.sleep(0.2)
    return peak


# The three-edition desk of `--editions 3`: the sample workspace with the issue's languages and
# each Chinese edition's own subject and preheader (the stories stay English, labelled: the same
# content as the one-edition send, so the two differ only in having editions).
EDITIONS = ("en", "zh-Hant", "zh-Hans")
EDITIONS_MANIFEST = """editions:
  zh-Hant:
    subject: "大灣區週報第1期：廣東專業鎮需要更好的信貸"
    preheader: "專利多不等於基礎研究強；5G 進入深圳貨櫃碼頭，另有五篇報道及六則簡訊"
  zh-Hans:
    subject: "大湾区周报第1期：广东专业镇需要更好的信贷"
    preheader: "专利多不等于基础研究强；5G 进入深圳货柜码头，另有五篇报道及六则简讯"
"""


@dataclass
class Sink:
    """What receiving the messages cost smtp-sink, one process on one core: its CPU a message and
    the share of a core it was busy (near 1.0, the rate is the sink's as much as the sender's)."""

    cpu_us: float
    busy: float


class _SinkMeter:
    """smtp-sink's CPU from now on, sampled (`sample`) while the messages go out: its busy share
    is over the time it was receiving, from the sample before its CPU first grew to the last at
    which it grew, so that a send's start-up and freeze (the sink idle) do not dilute it."""

    def __init__(self, pid: int):
        self.pid = pid
        self.samples = [(time.perf_counter(), process_cpu(pid))]

    def sample(self) -> None:
        self.samples.append((time.perf_counter(), process_cpu(self.pid)))

    def result(self, messages: int) -> Sink:
        self.sample()
        samples = self.samples
        cpu = samples[-1][1] - samples[0][1]
        grew = [i for i in range(1, len(samples)) if samples[i][1] > samples[i - 1][1]]
        receiving = samples[grew[-1]][0] - samples[grew[0] - 1][0] if grew else 0.0
        return Sink(cpu / messages * 1e6, cpu / receiving if receiving else 0.0)


@dataclass
class Sent:
    """One `issue send`'s figures."""

    rate: float          # msg/s, the whole command
    cpu_us: float        # CPU a message, the send process and its children
    kernel_us: float     # the part of it spent in the kernel (system time)
    peak_mb: float       # the send process's VmHWM
    message_kb: dict[str, float]  # each edition's message size (text + HTML)
    sent: dict[str, int]  # edition -> messages the journal records as sent
    sink: Sink
    server_cpu_us: float | None = None


def _parse(args: list[str]) -> tuple[list[int], int]:
    """The positional numbers (RECIPIENTS CONCURRENCY WORKERS) and --editions N (1 or 3)."""
    editions, numbers = 1, []
    rest = iter(args)
    for arg in rest:
        if arg.startswith("--editions"):
            value = arg.partition("=")[2] or next(rest, "")
            if value not in ("1", "3"):
                sys.exit(f"--editions takes 1 or 3, not {value!r}")
            editions = int(value)
        else:
            numbers.append(int(arg))
    return numbers, editions


def _workspace(tmp: Path, languages: tuple[str, ...]) -> Path:
    """A fresh copy of the sample workspace (its own SQLite database), a desk of `languages`."""
    root = copy_workspace(tmp)
    if len(languages) > 1:
        settings = root / "gbaletter.toml"
        quoted = ", ".join(f'"{language}"' for language in languages)
        settings.write_text(settings.read_text().replace('languages = ["en"]', f"languages = [{quoted}]"))
        manifest = root / "issues" / ISSUE / "issue.yaml"
        manifest.write_text(manifest.read_text() + EDITIONS_MANIFEST)
    return root


def _message_kb(root: Path, languages: tuple[str, ...]) -> dict[str, float]:
    build = root / "issues" / ISSUE / "build"
    names = {languages[0]: "email"} if len(languages) == 1 else {lang: f"email.{lang}" for lang in languages}
    return {lang: (len((build / f"{name}.html").read_bytes()) + len((build / f"{name}.txt").read_bytes())) / 1024
            for lang, name in names.items()}


def _send(root: Path, env: dict[str, str], recipients: int, concurrency: int, workers: int,
          languages: tuple[str, ...], sink_pid: int) -> Sent:
    """Build the issue, make the subscribers, run `gbaletter issue send` and measure it."""
    subprocess.run([sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "build", ISSUE],
                   check=True, capture_output=True, env=env)
    db = open_database(load_workspace(root))
    add_subscribers(db, recipients, languages)
    db.dispose()
    errors = tempfile.TemporaryFile()
    url = os.environ.get("GBALETTER_DATABASE_URL", "")
    server_before = server_cpu(url) if url.startswith("postgresql") else None
    children_cpu, sink = _children_cpu(), _SinkMeter(sink_pid)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "gbaletter", "--root", str(root), "issue", "send", ISSUE,
         "--segment", "tag:technology", "--concurrency", str(concurrency),
         "--workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=errors, env=env)
    peak_kb = _watch_peak_kb(process, sink)
    cpu_us, kernel_us = _cpu_us_since(children_cpu, recipients)
    elapsed = time.perf_counter() - started
    if process.returncode:
        errors.seek(0)
        sys.exit(f"send failed: {errors.read()[-2000:].decode(errors='replace')}")
    server = (server_cpu(url) - server_before) / recipients * 1e6 if server_before is not None else None
    return Sent(recipients / elapsed, cpu_us, kernel_us, peak_kb / 1024,
                _message_kb(root, languages), _sent_by_edition(root, recipients), sink.result(recipients),
                server)


def _sent_by_edition(root: Path, recipients: int) -> dict[str, int]:
    """What the journal says went out, by edition: a send that gave everyone one edition, or
    did not send everything, would measure something else."""
    db = open_database(load_workspace(root))
    with db.reader() as session:
        by_edition = journal.counts_by_edition(session, ISSUE)
    db.dispose()
    sent = {edition: states.get("sent", 0) for edition, states in by_edition.items()}
    if sum(sent.values()) != recipients:
        sys.exit(f"the journal has {sum(sent.values()):,} of {recipients:,} messages sent: {by_edition}")
    return sent


@dataclass
class Reference:
    """smtp-source's figures: msg/s, and CPU a message (what pushing messages of this size
    through loopback SMTP costs a C client on this machine, the floor under the send's CPU)."""

    rate: float
    cpu_us: float
    kernel_us: float
    sink: Sink


def _reference(port: int, recipients: int, concurrency: int, message_bytes: int, sink_pid: int) -> Reference:
    """smtp-source sending the same number (up to REFERENCE_MESSAGES) of messages of this size."""
    count = min(recipients, REFERENCE_MESSAGES)
    children_cpu, sink = _children_cpu(), _SinkMeter(sink_pid)
    started = time.perf_counter()
    subprocess.run([_tool("smtp-source"), "-s", str(concurrency), "-l", str(message_bytes),
                    "-m", str(count), "-d", "-M", "bench.example.org",
                    "-f", "bounces@example.org", "-t", "reader@example.org",
                    f"127.0.0.1:{port}"], check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    return Reference(count / elapsed, *_cpu_us_since(children_cpu, count), sink.result(count))


def _report_send(sent: Sent, reference: Reference, what: str, workers: int) -> None:
    editions = ", ".join(f"{lang} {sent.sent.get(lang, 0):,} x {kb:.0f} KB" for lang, kb in sent.message_kb.items())
    print(f"  {what}: sent {editions}")
    report("gbaletter issue send, whole command incl. freeze", sent.rate, "msg/s", reference.rate,
           ">= 0.8x reference")
    report("peak RSS of the send process (VmHWM)", sent.peak_mb, "MB", None, "<= 64 MB")
    report(f"CPU per message, sender ({workers} worker(s), all processes)", sent.cpu_us, "us",
           reference.cpu_us, "<= 150 us")
    report("  of which in the kernel", sent.kernel_us, "us", reference.kernel_us)
    if sent.server_cpu_us is not None:
        report("CPU per message, PostgreSQL server", sent.server_cpu_us, "us")
    _report_sink(sent.sink, reference.sink)


def _report_sink(sink: Sink, reference: Sink) -> None:
    report("CPU per message, smtp-sink receiving it", sink.cpu_us, "us", reference.cpu_us)
    report("  smtp-sink busy, share of one core", sink.busy, "", reference.busy)
    if sink.busy >= SINK_SATURATED:
        print(f"  note: smtp-sink (one process) was busy {sink.busy:.0%} of a core: this rate is "
              "the sink's as much as the sender's")


def main(args: list[str]) -> None:
    numbers, editions = _parse(args)
    recipients = numbers[0] if numbers else 100_000
    concurrency = numbers[1] if len(numbers) > 1 else 16
    workers = numbers[2] if len(numbers) > 2 else 1
    if editions == 3 and os.environ.get("GBALETTER_DATABASE_URL"):
        sys.exit("--editions 3 runs on SQLite only (each of its two sends needs an empty database): "
                 "unset GBALETTER_DATABASE_URL")
    port = _free_port()
    sink = _sink(port)
    env = {**os.environ, "GBALETTER_SECRET": "bench-secret-0123456789abcdef",
           "GBALETTER_SMTP_HOST": "127.0.0.1", "GBALETTER_SMTP_PORT": str(port),
           "GBALETTER_SMTP_TLS": "none"}
    variants = [("one edition", ("en",))] + ([("three editions", EDITIONS)] if editions == 3 else [])
    try:
        results: list[Sent] = []
        for _, languages in variants:
            with tempfile.TemporaryDirectory() as tmp:
                results.append(_send(_workspace(Path(tmp), languages), env, recipients, concurrency,
                                     workers, languages, sink.pid))
        message_bytes = int(results[0].message_kb["en"] * 1024)
        reference = _reference(port, recipients, concurrency, message_bytes, sink.pid)
        print(f"send: {recipients:,} recipients, {concurrency} connections, "
              f"~{message_bytes / 1024:.0f} KB messages")
        report("smtp-source, same size and concurrency (reference)", reference.rate, "msg/s")
        report("smtp-source's CPU per message (reference)", reference.cpu_us, "us")
        report("  of which in the kernel", reference.kernel_us, "us")
        report("smtp-sink's CPU per message receiving smtp-source's", reference.sink.cpu_us, "us")
        for (what, _), sent in zip(variants, results, strict=True):
            _report_send(sent, reference, what if editions == 3 else "gbaletter", workers)
        if editions == 3:
            one, three = results
            print("  three editions / one edition:")
            report("msg/s", three.rate / one.rate, "x", None, ">= 0.9x (issue 19)")
            report("CPU a message", three.cpu_us / one.cpu_us, "x")
            report("peak RSS", three.peak_mb / one.peak_mb, "x")
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
