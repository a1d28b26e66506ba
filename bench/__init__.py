"""Benchmarks: `python -m bench NAME` (or `make bench BENCH_ARGS=NAME`). Each prints medians and
the ratio to a reference measured in the same run, so figures from different machines compare."""
