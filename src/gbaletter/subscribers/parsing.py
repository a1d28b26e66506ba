"""The CSV parser process of an import: `python -m gbaletter.subscribers.parsing FD`.

Parsing (CSV, address checks, hashing, JSON) is half the work of an import and SQLite writes from
one process, so the importer has a second process parse while it writes. That process is started
afresh (about 25 MB: no SQLAlchemy, nothing of the CLI), not forked from the importer, whose
memory a fork would share but whose size it would still count twice. It reads its `ParseJob`
(pickled) on standard input and writes `ParsedChunk`s (pickled) to the pipe FD, then None, or the
one-line message of a `GbaletterError`. The pipe holds about one chunk, which bounds the memory
of both sides; when the importer is gone (Ctrl-C, `kill -9`) the next write fails and this
process ends.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import GbaletterError
from ..interrupts import STOP_SIGNALS
from .rows import Columns, ParsedChunk, RowParser, read_records
from .status import Status


@dataclass(frozen=True)
class ParseJob:
    path: Path
    columns: Columns
    status: Status
    extra_tags: tuple[str, ...]
    source: str
    languages: tuple[str, ...]
    batch_size: int  # distinct addresses per transaction
    chunk_size: int  # rows per message
    dates_as_text: bool  # SQLite's driver takes times as text, PostgreSQL's as datetimes

    def chunks(self) -> Iterator[ParsedChunk]:
        records = read_records(self.path)
        next(records)  # the header, which the importer has read into `columns`
        parser = RowParser(self.columns, status=self.status, extra_tags=self.extra_tags,
                           source=self.source, languages=self.languages)
        return parser.chunks(records, batch_size=self.batch_size, chunk_size=self.chunk_size,
                             dates_as_text=self.dates_as_text)


@contextmanager
def parsed_elsewhere(job: ParseJob) -> Iterator[Iterator[ParsedChunk]]:
    """The job's chunks, parsed in a process of its own while the caller stores earlier ones.

    The process has a process group of its own, so Ctrl-C at a terminal reaches only the
    importer, which stops between batches and then ends this process itself.
    """
    reading, writing = os.pipe()
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "gbaletter.subscribers.parsing", str(writing)],
            stdin=subprocess.PIPE, pass_fds=(writing,), process_group=0,
            env={**os.environ, "PYTHONPATH": path})
    finally:
        os.close(writing)
    chunks = os.fdopen(reading, "rb")
    try:
        assert process.stdin is not None
        with process.stdin:
            pickle.dump(job, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        yield _received(chunks)
    finally:
        chunks.close()
        process.kill()
        process.wait()


def _received(chunks: BinaryIO) -> Iterator[ParsedChunk]:
    while True:
        try:
            item = pickle.load(chunks)
        except EOFError:
            raise RuntimeError("the CSV parser process ended unexpectedly") from None
        if item is None:
            return
        if isinstance(item, str):
            raise GbaletterError(item)
        yield item


def main(fd: int) -> None:
    """The parser process. Ctrl-C and SIGTERM are for the importer, which ends this process itself
    (a service manager signals the whole group). The garbage collector is off: parsing makes no
    reference cycles."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    gc.disable()
    job: ParseJob = pickle.load(sys.stdin.buffer)
    pipe = open(fd, "wb")  # closed below, where a broken pipe is expected
    try:
        try:
            for chunk in job.chunks():
                _send(pipe, chunk)
            _send(pipe, None)
        except GbaletterError as exc:
            _send(pipe, str(exc))
        pipe.close()
    except OSError:  # the importer stopped (a broken pipe): nothing is left to do or flush
        os._exit(0)


def _send(pipe: BinaryIO, item: ParsedChunk | str | None) -> None:
    """One message, all of it in the pipe (a message held in the buffer would keep the
    importer waiting while the next one is parsed)."""
    pickle.dump(item, pipe, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.flush()

if __name__ == "__main__":
    main(int(sys.argv[1]))
