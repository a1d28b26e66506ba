"""When a send's next attempt may start: the one place that paces a send.

Two things hold an attempt back: `--rate` (a token bucket, the total shared among the workers
alive) and the relay-wide pause after many temporary failures in a row (the circuit breaker's
BACK_OFF, docs/outcomes.md): every connection waits, longer each time, and the send stops once the
pauses add up to more than `[smtp] relay_backoff_max`. A per-domain limit would go here too.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from .ratelimit import TokenBucket


class Pacing:
    def __init__(self, rate: float, relay_backoff: float, relay_backoff_max: float,
                 sleep: Callable[[float], Awaitable[None]]):
        self.rate = rate
        self.bucket = TokenBucket(rate)
        self.next_pause = relay_backoff
        self.relay_backoff_max = relay_backoff_max
        self.resume_at = 0.0  # no attempt starts before this (monotonic)
        self.paused = 0.0     # seconds of relay pauses in this run
        self._sleep = sleep   # a sleep that ends early when the send stops

    def share(self, workers_alive: int) -> None:
        """--rate is the total across every worker of the send, wherever they run."""
        self.bucket.set_rate(self.rate / max(workers_alive, 1))

    def free(self) -> bool:
        """No --rate and no relay pause (most sends, at every message): no turn to wait for, and
        no `wait_turn` coroutine to create and run a message."""
        return self.bucket.rate <= 0 and self.resume_at <= time.monotonic()

    async def wait_turn(self) -> None:
        """Until the relay pause (if any) is over and the rate allows one more message."""
        await self._sleep(self.resume_at - time.monotonic())
        await self.bucket.acquire()

    @property
    def relay_paused(self) -> bool:
        return self.resume_at > time.monotonic()

    def pause_relay(self, reply: object) -> str:
        """Start a relay-wide pause; returns why the send must stop instead ('' when it may wait)."""
        if self.relay_paused:
            return ""  # already paused
        if self.paused + self.next_pause > self.relay_backoff_max:
            return (f"the relay kept failing temporarily ({reply}); the send paused "
                    f"{self.paused:.0f} s in all and stopped with the rest still queued")
        self.resume_at = time.monotonic() + self.next_pause
        self.paused += self.next_pause
        self.next_pause *= 2
        return ""
