"""How often the subscribe form may send a confirmation email to one address.

Kept in the memory of the one server process on purpose: losing it on a restart only forgets who
asked in the last few minutes, and it needs no table. (Several server processes would each keep
their own, multiplying the limit by their number.)
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

CONFIRMATION_INTERVAL = 10 * 60  # seconds between two confirmation emails to the same address


class RecentRequests:
    """Keys (address hashes) claimed in the last `interval` seconds; used from the event loop only."""

    def __init__(self, interval: float = CONFIRMATION_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.clock = clock
        self._claimed: OrderedDict[bytes, float] = OrderedDict()  # oldest claim first

    def claim(self, key: bytes) -> bool:
        """True, and the key is taken for `interval` seconds, unless it was taken less than that ago."""
        now = self.clock()
        while self._claimed and next(iter(self._claimed.values())) <= now - self.interval:
            self._claimed.popitem(last=False)
        if key in self._claimed:
            return False
        self._claimed[key] = now
        return True

    def release(self, key: bytes) -> None:
        """Give a key back (its email could not be sent), so the person may try again at once."""
        self._claimed.pop(key, None)
