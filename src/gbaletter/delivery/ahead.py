"""The row a connection sends next, taken as its current message goes out.

Where the server pipelines, a message's end and the next transaction's MAIL, RCPT and DATA go in
one write (`pipeline.py`), so the connection must know its next row when the message goes out,
before the message's final reply. Taking it then changes nothing else about the row: it is
claimed (`sending`) only when its turn comes (`loop.SendLoop.deliver`), and its message goes out
only once that claim has committed, as for any row; the commands alone deliver nothing.

A row is taken ahead only when nothing would hold its transaction open once its commands are
out: no --rate and no relay pause (`Pacing.free`), the send not stopping, an address this
connection can carry, and a subscriber still active when the batch was claimed (an inactive one
is skipped without a transaction). Any other row, and the next row of a connection that has none
ahead, is taken and sent as before. What can still come between (a relay pause that begins, the
send stopping, the claim skipping the row, the message before it refused at its end) closes the
connection: the transaction never gets its final dot, so nothing of it is delivered. A row
taken ahead and then not sent stays `queued` for the next run, like every row not begun.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from .message import Recipient
from .pacing import Pacing

if TYPE_CHECKING:
    from .claims import Claims
    from .smtp import SmtpConnection


class NextRow:
    """One connection's next row, taken ahead (`SmtpConnection.follow_with` calls it)."""

    def __init__(self, claims: Claims, pacing: Pacing, stop: asyncio.Event, return_path: Callable[[int], str]):
        self.claims, self.pacing, self.stop, self.return_path = claims, pacing, stop, return_path
        self.row: Recipient | None = None
        self.envelope: bytes | None = None  # the row's return path (VERP), made once

    def __call__(self, client: SmtpConnection) -> tuple[bytes, str] | None:
        """The return path and address of the row `client` sends next, taken from the claims'
        queue now; None when there is none to take ahead (see the module's docstring)."""
        queue = self.claims.queue
        if self.row is not None or not queue or self.stop.is_set() or not self.pacing.free():
            return None
        row = queue[0]
        if row is None or not row.active or not client.can_carry(row.email):
            return None
        self.row, self.envelope = self.claims.take(), self.return_path(row.key).encode("ascii")
        return self.envelope, row.email

    def take(self) -> tuple[Recipient | None, bytes | None]:
        """The row taken ahead and its return path, once; (None, None) when there is none."""
        taken = self.row, self.envelope
        self.row = self.envelope = None
        return taken
