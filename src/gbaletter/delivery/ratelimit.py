"""A token bucket shared by all connections: at most `rate` messages a second, small bursts allowed."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    def __init__(self, rate: float, burst: float | None = None):
        self.burst = burst
        self.set_rate(rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    def set_rate(self, rate: float) -> None:
        """A new rate from now on (several workers share one --rate)."""
        self.rate = rate
        self.capacity = self.burst if self.burst is not None else max(1.0, rate / 10)

    async def acquire(self) -> None:
        """Wait for one token; returns at once when the rate is 0 (unlimited)."""
        if self.rate <= 0:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)
