"""Unsubscribe POSTs in group commits: each request waits for the commit of its batch (a reader is
told "you are unsubscribed" only once it is on disk), and the POSTs that arrive while one batch
commits go together in the next, in one transaction (`subscription.unsubscribe_many`).

Mail providers send the RFC 8058 one-click POSTs in bursts when a campaign lands; one transaction
per POST made the database the bottleneck (about 1.6 ms of ORM work and a commit each).
"""

from __future__ import annotations

import asyncio
import queue
import threading

from ..db import Database
from ..tokens import Signer
from .subscription import UnsubscribeLink, unsubscribe_many

MAX_BATCH = 64
_STOP = object()


def _settle(future: asyncio.Future, outcome: object, failed: bool) -> None:
    if future.done():  # the request was cancelled meanwhile (the client went away)
        return
    if failed:
        future.set_exception(outcome)  # type: ignore[arg-type]
    else:
        future.set_result(outcome)


class UnsubscribeWriter:
    """One writer thread, started by the first request; `close()` finishes what is queued."""

    def __init__(self, db: Database, signer: Signer):
        self.db, self.signer = db, signer
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def unsubscribe(self, link: UnsubscribeLink, actor: str, reason: str) -> str | None:
        """Unsubscribe the link's subscriber; the resubscribe token to offer, or None."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="unsubscribe-writer", daemon=True)
                    self._thread.start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((link, actor, reason, loop, future))
        return await future

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:  # no waiting: whatever queued during the last commit
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list) -> None:
        try:
            with self.db.session() as session:
                offers = unsubscribe_many(session, self.signer, [(link, actor, reason)
                                                                 for link, actor, reason, _, _ in batch])
        except Exception as exc:  # every waiting request hears of it (an error page), none hangs
            for *_, loop, future in batch:
                loop.call_soon_threadsafe(_settle, future, exc, True)
            return
        for (*_, loop, future), offer in zip(batch, offers, strict=True):
            loop.call_soon_threadsafe(_settle, future, offer, False)
