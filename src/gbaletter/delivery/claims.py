"""The rows one worker takes from the journal, and its hold on them (docs/scaling.md).

Rows are claimed in small batches with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and
queued for the worker's connections; the lease and the worker's heartbeat are renewed every third
of a lease while it lives, and the rows claimed but not begun are given back when it stops. A
worker that died leaves its rows held until its lease runs out; then they are anybody's.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from ..db import Database, utcnow
from . import leases
from .message import Recipient
from .models import State

# how often a worker with nothing to claim looks again while other workers hold rows
RELEASE_POLL_SECONDS = 1.0
# rows claimed at a time, per connection: a claim is two statements SQLAlchemy builds and a
# transaction; at 2 rows a connection a message cost ~50 us more of the sender's CPU than at 16
# (docs/benchmarks.md). More rows held only wait longer for their lease if the worker dies.
ROWS_PER_CONNECTION = 16


class Claims:
    def __init__(self, db: Database, issue_id: str, worker: int, connections: int, lease: float,
                 stop: asyncio.Event, sleep: Callable[[float], Awaitable[None]]):
        self.db, self.issue_id, self.worker = db, issue_id, worker
        self.connections, self.lease = connections, lease
        self.stop, self._sleep = stop, sleep
        self.held: set[int] = set()  # claimed from the journal and not begun yet
        # a batch goes into the queue at once, and the next is claimed when the queue is down to
        # `low` rows: the producer wakes once a batch, not once a row. A plain deque: a connection
        # takes a queued row without a coroutine (`take`), where asyncio.Queue's `get` is two
        self.queue: deque[Recipient | None] = deque()
        self.low = connections * 4
        self._room = asyncio.Event()
        self._filled = asyncio.Event()  # set when rows (or the ends) went into the queue

    async def produce(self, states: tuple[State, ...]) -> None:
        """Claim rows in small batches, one state after the other, and queue them for the
        connections (a None per connection at the end). When none is free but other workers
        hold some, wait for their release."""
        try:
            for state in states:
                after = 0
                while not self.stop.is_set():
                    batch = leases.claim_batch(self.db, self.issue_id, state, self.worker,
                                                self.connections * ROWS_PER_CONNECTION, self.lease, after)
                    if not batch:
                        release = leases.next_release(self.db, self.issue_id, state, self.worker)
                        if release is None:
                            break
                        await self._sleep(min(max((release - utcnow()).total_seconds(), 0.05),
                                              RELEASE_POLL_SECONDS))
                        continue
                    self.held.update(recipient.key for recipient in batch)
                    after = max(after, batch[-1].key)
                    self.queue.extend(batch)
                    self._filled.set()
                    await self._until_room()
        finally:
            self.queue.extend([None] * self.connections)
            self._filled.set()

    async def _until_room(self) -> None:
        """Until the connections have taken the queue down to `low` rows, or the send stops."""
        while len(self.queue) > self.low and not self.stop.is_set():
            self._room.clear()
            room, stop = asyncio.ensure_future(self._room.wait()), asyncio.ensure_future(self.stop.wait())
            await asyncio.wait((room, stop), return_when=asyncio.FIRST_COMPLETED)
            room.cancel()
            stop.cancel()

    def take(self) -> Recipient | None:
        """The next row for a connection, while `queue` is not empty (most of the time); None
        when there are no more."""
        queue = self.queue
        recipient = queue.popleft()
        if len(queue) <= self.low:
            self._room.set()
        return recipient

    async def next(self) -> Recipient | None:
        """`take`, once the queue has a row (or its end)."""
        while not self.queue:
            self._filled.clear()
            await self._filled.wait()
        return self.take()

    def begin(self, recipient: Recipient) -> None:
        """The row is being tried now: the journal's own claim (`sending`) holds it from here."""
        self.held.discard(recipient.key)

    def renew(self) -> int:
        """Renew the leases and the heartbeat; returns how many workers of the send are alive."""
        return leases.renew(self.db, self.issue_id, self.worker, self.held, self.lease)

    def release(self) -> None:
        """Give back the rows claimed and not begun (the run stopped or ended)."""
        leases.release(self.db, self.worker, self.held)
