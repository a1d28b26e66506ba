"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

# The environment a benchmark runs `gbaletter` in: as installed, Python's bytecode of each module
# is written on its first import and read after that (pip compiles it at install). Without this, a
# PYTHONDONTWRITEBYTECODE=1 in the caller's environment (set on this project's machines) would
# have every run compile gbaletter's own modules from source again: ~30 ms of each start-up.
INSTALLED_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def median_seconds(action: Callable[[], object], runs: int, warmup: int = 1,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """The median of `runs` timings of `action` by `clock`: wall time by default; CPU seconds
    (`time.process_time`, plus a server's) are what other work on the machine leaves alone."""
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(runs):
        start = clock()
        action()
        samples.append(clock() - start)
    return statistics.median(samples)


def report(label: str, value: float, unit: str, reference: float | None = None,
           target: str = "") -> None:
    ratio = f"  ({value / reference:.2f}x reference)" if reference else ""
    goal = f"  target {target}" if target else ""
    print(f"  {label:<48} {value:>10.2f} {unit}{ratio}{goal}")
