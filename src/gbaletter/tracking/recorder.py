"""Recording clicks and opens in bounded group commits, off the request path.

`record` only puts the event on a queue: the redirect does not wait for the disk. One writer thread
commits whatever gathered, at most GATHER_SECONDS after its first event and at most MAX_BATCH
events a transaction. `close()` (on the server's shutdown) commits everything still queued, so a
clean shutdown loses no click. A crash (SIGKILL, power loss) loses the clicks answered in the last
GATHER_SECONDS plus the batch being committed: at most MAX_BATCH events, usually a handful. The
redirect itself never depends on the record.

Each event is inserted with an INSERT ... SELECT from its journal row, which adds the subscriber id
(so that erasing the subscriber deletes the event) and drops an event whose delivery is unknown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select

from ..db import Database
from ..db.batches import BatchWriter
from ..db.bulk import DriverStatement
from ..delivery.models import Delivery
from .models import TrackingEvent

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.05
MAX_BATCH = 2000


@dataclass(frozen=True)
class Event:
    issue_id: str
    kind: str
    link_id: str
    delivery_id: int
    at: datetime
    method: str
    agent: str


_INSERT = insert(TrackingEvent).from_select(
    ["issue_id", "kind", "link_id", "delivery_id", "subscriber_id", "clicker", "at", "method", "agent"],
    select(Delivery.issue_id, bindparam("b_kind", type_=TrackingEvent.kind.type),
           bindparam("b_link", type_=TrackingEvent.link_id.type), Delivery.id, Delivery.subscriber_id,
           Delivery.id, bindparam("b_at", type_=TrackingEvent.at.type),
           bindparam("b_method", type_=TrackingEvent.method.type),
           bindparam("b_agent", type_=TrackingEvent.agent.type))
    .where(Delivery.id == bindparam("b_delivery"), Delivery.issue_id == bindparam("b_issue")))
_NAMES = ("b_kind", "b_link", "b_at", "b_method", "b_agent", "b_delivery", "b_issue")


class EventRecorder:
    """The writer of tracking events (`db.batches.BatchWriter`); `close()` commits what is queued."""

    def __init__(self, db: Database):
        self.db = db
        self._statement = DriverStatement(_INSERT, db.engine.dialect, _NAMES)
        self._connection: Connection | None = None
        self._writer = BatchWriter(self._commit, "tracking-writer", MAX_BATCH, GATHER_SECONDS)
        self.committed = 0

    def record(self, event: Event) -> None:
        self._writer.put(event)

    def close(self) -> None:
        """Commit every event recorded so far, then stop the writer."""
        self._writer.close()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _commit(self, batch: list[Event]) -> None:
        rows = [(e.kind, e.link_id, e.at, e.method, e.agent, e.delivery_id, e.issue_id) for e in batch]
        try:
            if self._connection is None:
                self._connection = self.db.writer_connection()
            with self._connection.begin():
                self._statement.run(self._connection, rows)
            self.committed += len(batch)
        except Exception:  # the database failed: log and go on; the redirects never depended on it
            log.exception("could not record %d tracking events", len(batch))
