"""How every long job stops: the first Ctrl-C or SIGTERM stops it at its next safe point, the
second ends the process at once.

A send stops between messages (those in flight finish), an import between batches, the bounce
watcher and the scheduler between two runs or while they wait; the journal and every batch stay
whole, and the command says how to resume. `StopRequest` is the one mechanism: the job enters it,
and looks at it where stopping loses nothing (`check()`, `requested`), or is woken by it
(`listen`: an event loop), or waits inside `waiting()`, where the request ends the wait at once.

Why not the plain KeyboardInterrupt: raised in the middle of a database call, it can leave the
connection mid-command (on PostgreSQL, inside a COPY), so the rollback that should follow fails
and the job ends with a driver error instead of a clean stop; and SIGTERM (systemd, `kill`) would
end the job wherever it is. A second signal is for a person (or a service manager) who will not
wait for the safe point: the process ends by that signal as if no handler were installed, like a
crash: the open transaction is not committed, and what was committed stays.
(Python runs signal handlers between bytecodes, so a job blocked inside a C call hears either
signal only when that call returns.)
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, MethodType, TracebackType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_Handler = Callable[[int, FrameType | None], object] | int | None


class StopRequested(KeyboardInterrupt):
    """A stop was asked for and the job reached a point where it can stop (or was waiting).

    A KeyboardInterrupt, so that the CLI ends the command as an interrupted one (exit 130).
    """


class StopRequest:
    """Within `with`, SIGINT and SIGTERM only ask the job to stop; a second one ends the process.

    `on_request()` runs in the signal handler at the first signal (to say that the job is
    stopping); it must only write with `os.write`, since the interrupted code may be inside a
    buffered write. `pass_on(signum)` runs at every stop signal, the second one before the process
    ends: a job with child processes passes the signal on to them. Entered while another
    StopRequest is in force (a send inside the scheduler), a request is the outer job's too: it
    stops after the inner one.
    Outside the main thread, where Python cannot install signal handlers, this does nothing and
    the signals keep their default meaning.
    """

    def __init__(self, on_request: Callable[[], None] | None = None,
                 pass_on: Callable[[int], None] | None = None):
        self.requested = False
        self._pass_on = pass_on
        self._listeners: list[Callable[[], object]] = [on_request] if on_request is not None else []
        self._previous: dict[int, _Handler] = {}
        self._outer: StopRequest | None = None
        self._waiting = False

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in STOP_SIGNALS}
            previous = self._previous[signal.SIGINT]
            if isinstance(previous, MethodType) and isinstance(previous.__self__, StopRequest):
                self._outer = previous.__self__
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous = {}

    def check(self) -> None:
        """Raise StopRequested if a stop was asked for; called where stopping loses nothing."""
        if self.requested:
            raise StopRequested

    def listen(self, callback: Callable[[], object]) -> None:
        """Call `callback` (in the signal handler) when a stop is asked for, or now if it was."""
        self._listeners.append(callback)
        if self.requested:
            callback()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """A wait that loses nothing if cut short: a stop asked for during it (or before) raises
        StopRequested at once, wherever the wait is (a sleep, an IMAP IDLE)."""
        self.check()
        self._waiting = True
        try:
            yield
        finally:
            self._waiting = False

    def _request(self) -> None:
        self.requested = True
        for callback in self._listeners:
            callback()
        if self._outer is not None:
            self._outer._request()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._pass_on is not None:
            self._pass_on(signum)
        if self.requested:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self._request()
        if self._waiting:
            self._waiting = False
            raise StopRequested
