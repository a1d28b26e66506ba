"""Unsubscribe POSTs in group commits: each request waits for the commit of its batch (a reader is
told "you are unsubscribed" only once it is on disk), and the POSTs that arrive while one batch
commits go together in the next, in one transaction (`subscription.unsubscribe_many`).

Mail providers send the RFC 8058 one-click POSTs in bursts when a campaign lands; one transaction
per POST made the database the bottleneck (about 1.6 ms of ORM work and a commit each).
"""

from __future__ import annotations

import asyncio

from ..db import Database
from ..db.batches import BatchWriter
from ..delivery.effects import Cause
from ..tokens import Signer
from .subscription import Unsubscribed, UnsubscribeLink, unsubscribe_many

MAX_BATCH = 64


def _settle(future: asyncio.Future, outcome: object, failed: bool) -> None:
    if future.done():  # the request was cancelled meanwhile (the client went away)
        return
    if failed:
        future.set_exception(outcome)  # type: ignore[arg-type]
    else:
        future.set_result(outcome)


class UnsubscribeWriter:
    """The writer of unsubscribe POSTs (`db.batches.BatchWriter`); `close()` finishes the queue."""

    def __init__(self, db: Database, signer: Signer):
        self.db, self.signer = db, signer
        self._writer = BatchWriter(self._commit, "unsubscribe-writer", MAX_BATCH)

    async def unsubscribe(self, link: UnsubscribeLink, cause: Cause, reason: str) -> Unsubscribed:
        """Unsubscribe the link's subscriber; what the page after it needs."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._writer.put((link, cause, reason, loop, future))
        return await future

    def close(self) -> None:
        self._writer.close()

    def _commit(self, batch: list) -> None:
        try:
            with self.db.session() as session:
                answers = unsubscribe_many(session, self.signer, [(link, cause, reason)
                                                                 for link, cause, reason, _, _ in batch])
        except Exception as exc:  # every waiting request hears of it (an error page), none hangs
            for *_, loop, future in batch:
                loop.call_soon_threadsafe(_settle, future, exc, True)
            return
        for (*_, loop, future), answer in zip(batch, answers, strict=True):
            loop.call_soon_threadsafe(_settle, future, answer, False)
