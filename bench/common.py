"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(action: Callable[[], object], runs: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def report(label: str, value: float, unit: str, reference: float | None = None,
           target: str = "") -> None:
    ratio = f"  ({value / reference:.2f}x reference)" if reference else ""
    goal = f"  target {target}" if target else ""
    print(f"  {label:<48} {value:>10.2f} {unit}{ratio}{goal}")
