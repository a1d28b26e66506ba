"""Ctrl-C for jobs that write in batches: the first one stops the job between two batches, the
second one ends the process at once.

Why not the plain KeyboardInterrupt: raised in the middle of a database call, it can leave the
connection mid-command (on PostgreSQL, inside a COPY), so the rollback that should follow fails
and the job ends with a driver error instead of a clean stop. Deferred to a point between
transactions, the stop keeps every batch whole and the exit clean. A second Ctrl-C is for a
person who will not wait for that point: the process ends by SIGINT as if no handler were
installed, like a crash: the open transaction is not committed, and what was committed stays.
(Python runs signal handlers between bytecodes, so a job blocked inside a C call hears either
Ctrl-C only when that call returns.)
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType


class BatchInterrupt:
    """Within `with`, Ctrl-C only asks the job to stop; the job calls `check()` between batches.

    `on_request` runs in the signal handler at the first Ctrl-C (to say that the job is stopping);
    it must only write with `os.write`, since the interrupted code may be inside a buffered write.
    Outside the main thread, where Python cannot install signal handlers, this does nothing and
    Ctrl-C keeps its default meaning.
    """

    def __init__(self, on_request: Callable[[], None] | None = None):
        self.requested = False
        self._on_request = on_request
        self._previous: Callable[[int, FrameType | None], object] | int | None = None
        self._installed = False

    def __enter__(self) -> BatchInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, signal.SIG_DFL if self._previous is None else self._previous)
            self._installed = False

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed; called where stopping loses nothing."""
        if self.requested:
            raise KeyboardInterrupt

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
            return
        self.requested = True
        if self._on_request is not None:
            self._on_request()
