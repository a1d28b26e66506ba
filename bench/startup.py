"""Start-up: `--help` of every command and a CLI `issue build` of the sample, as a person waits.

Each is run RUNS times in a new interpreter (after one warm-up run); the medians of wall time,
CPU time (user + system: what the wall time would be on an idle machine, as these runs neither
wait for a disk nor a network) and peak RSS are reported. References in the same run: the bare
interpreter (`python -c pass`) and click alone (`import click`), run the same way.

    python -m bench startup [RUNS]        (default: 11)

Peak RSS is the process's own VmHWM, read from /proc/self/status as it exits: getrusage and
wait4 would fold the forking benchmark's own high-water mark into the child's at exec.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from gbaletter.cli import cli

from .build import ISSUE, copy_workspace
from .common import INSTALLED_ENV, report

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


def measure(statement: str, args: list[str], runs: int) -> tuple[float, float, float]:
    """(wall ms, CPU ms, peak RSS MB), medians, of `statement` ("gbaletter" or Python) with `args`."""
    walls, cpus, peaks = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        for run in range(runs + 1):
            started = time.perf_counter()
            process = subprocess.Popen([sys.executable, "-c", _RUN, str(peak_file), statement, *args],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=INSTALLED_ENV)
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            if process.returncode:
                sys.exit(f"failed: {statement} {' '.join(args)}")
            if run:  # the first is a warm-up (file cache, Python's and Jinja's bytecode caches)
                walls.append(wall * 1000)
                cpus.append((usage.ru_utime + usage.ru_stime) * 1000)
                peaks.append(int(peak_file.read_text()) / 1024)
    return statistics.median(walls), statistics.median(cpus), statistics.median(peaks)


def main(args: list[str]) -> None:
    runs = int(args[0]) if args else 11
    print(f"startup: medians of {runs} runs each, peak RSS is VmHWM")
    print(f"  {'':<48} {'wall':>9} {'CPU':>9} {'peak RSS':>9}")
    bare = measure("pass", [], runs)
    click_only = measure("import click", [], runs)
    _line("python -c pass (reference)", bare)
    _line("python -c 'import click' (reference)", click_only)
    helps = {" ".join(("gbaletter", *words, "--help")): measure("gbaletter", [*words, "--help"], runs)
             for words in [(), *_command_words(cli)]}
    for name, figures in helps.items():
        _line(name, figures, click_only)
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_workspace(Path(tmp))
        build = measure("gbaletter", ["--root", str(root), "issue", "build", ISSUE], runs)
    _line(f"gbaletter issue build {ISSUE}", build, bare)
    slowest = max(helps, key=lambda name: helps[name][0])
    report(f"slowest --help ({slowest}), wall", helps[slowest][0], "ms", click_only[0],
           f"<= {HELP_TARGET_MS} ms")
    report("largest --help, peak RSS", max(f[2] for f in helps.values()), "MB", click_only[2],
           f"<= {HELP_TARGET_MB} MB")
    report(f"issue build {ISSUE}, wall", build[0], "ms", bare[0], f"<= {BUILD_TARGET_MS} ms")


def _line(name: str, figures: tuple[float, float, float],
          reference: tuple[float, float, float] | None = None) -> None:
    wall, cpu, peak = figures
    ratio = f"  wall {wall / reference[0]:.2f}x, CPU {cpu / reference[1]:.2f}x reference" if reference else ""
    print(f"  {name:<48} {wall:>6.1f} ms {cpu:>6.1f} ms {peak:>6.1f} MB{ratio}")


if __name__ == "__main__":
    main(sys.argv[1:])
