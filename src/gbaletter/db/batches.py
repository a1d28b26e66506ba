"""Group commits off the event loop: a thread that takes whatever was queued and writes it in one
transaction, for the web's hot writes (tracking events, unsubscribe POSTs).

`put` never blocks. The thread starts with the first item; it gathers items for `gather_seconds`
after the first of a batch (0: only what queued while the last batch was written) and at most
`max_batch`. `close()` writes everything queued before it, then stops the thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

_STOP = object()


class BatchWriter:
    def __init__(self, write: Callable[[list[Any]], None], name: str, max_batch: int,
                 gather_seconds: float = 0.0):
        self._write = write
        self._name = name
        self.max_batch = max_batch
        self.gather_seconds = gather_seconds
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, item: Any) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()
        self._queue.put(item)

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _next(self, deadline: float) -> Any:
        if self.gather_seconds:
            return self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
        return self._queue.get_nowait()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, deadline = [first], time.monotonic() + self.gather_seconds
            while len(batch) < self.max_batch:
                try:
                    item = self._next(deadline)
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._write(batch)
