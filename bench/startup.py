"""Start-up: `--help` of every command and a CLI `issue build` of the sample, as a person waits.

Each is run RUNS times in a new interpreter (after one warm-up run); the medians of wall time
and of peak RSS are reported. References in the same run: the bare interpreter (`python -c
pass`) and click alone (`import click`), run the same way.

    python -m bench startup [RUNS]        (default: 11)

Peak RSS is the process's own VmHWM, read from /proc/self/status as it exits: getrusage and
wait4 would fold the forking benchmark's own high-water mark into the child's at exec.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from gbaletter.cli import cli

from .build import ISSUE, copy_workspace
from .common import report

HELP_TARGET_MS, HELP_TARGET_MB, BUILD_TARGET_MS = 150, 40, 300

# Runs `gbaletter ARGS` (or a Python statement) and writes the process's peak RSS (kB) to a file.
_RUN = """
import atexit, sys

def _peak(path):
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            with open(path, "w") as out:
                out.write(line.split()[1])

atexit.register(_peak, sys.argv[1])
statement, sys.argv = sys.argv[2], ["gbaletter", *sys.argv[3:]]
if statement == "gbaletter":
    from gbaletter.cli import main
    main()
else:
    exec(statement)
"""


def _command_words(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    context = click.Context(group)
    words = []
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        words.append((*prefix, name))
        if isinstance(command, click.Group):
            words += _command_words(command, (*prefix, name))
    return words


def measure(statement: str, args: list[str], runs: int) -> tuple[float, float]:
    """(median wall ms, median peak RSS MB) of `statement` ("gbaletter" or Python) with `args`."""
    walls, peaks = [], []
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        for run in range(runs + 1):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", _RUN, str(peak_file), statement, *args],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if run:  # the first is a warm-up (file cache, Jinja's bytecode cache)
                walls.append((time.perf_counter() - started) * 1000)
                peaks.append(int(peak_file.read_text()) / 1024)
    return statistics.median(walls), statistics.median(peaks)


def main(args: list[str]) -> None:
    runs = int(args[0]) if args else 11
    print(f"startup: medians of {runs} runs each, peak RSS is VmHWM")
    bare_ms, bare_mb = measure("pass", [], runs)
    click_ms, click_mb = measure("import click", [], runs)
    report("python -c pass (reference), wall", bare_ms, "ms")
    report("python -c pass (reference), peak RSS", bare_mb, "MB")
    report("python -c 'import click' (reference), wall", click_ms, "ms")
    report("python -c 'import click' (reference), peak RSS", click_mb, "MB")
    slowest = ("", 0.0, 0.0)
    for words in [(), *_command_words(cli)]:
        wall, peak = measure("gbaletter", [*words, "--help"], runs)
        name = " ".join(("gbaletter", *words, "--help"))
        print(f"  {name:<48} {wall:>7.1f} ms ({wall / click_ms:.2f}x click) {peak:>6.1f} MB")
        if wall > slowest[1]:
            slowest = (name, wall, peak)
    report(f"slowest --help: {slowest[0]}, wall", slowest[1], "ms", click_ms, f"<= {HELP_TARGET_MS} ms")
    report("its peak RSS", slowest[2], "MB", click_mb, f"<= {HELP_TARGET_MB} MB")
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_workspace(Path(tmp))
        wall, peak = measure("gbaletter", ["--root", str(root), "issue", "build", ISSUE], runs)
    report(f"gbaletter issue build {ISSUE}, wall", wall, "ms", bare_ms, f"<= {BUILD_TARGET_MS} ms")
    report(f"gbaletter issue build {ISSUE}, peak RSS", peak, "MB", bare_mb)


if __name__ == "__main__":
    main(sys.argv[1:])
