"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

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


def process_cpu(pid: int, children: bool = False) -> float:
    """CPU seconds a running process has used so far (user and kernel), from /proc; with
    `children`, its waited-for children's too. 0.0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15 if children else 13]) / os.sysconf("SC_CLK_TCK")
