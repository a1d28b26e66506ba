"""Every benchmark module imports: `python -m bench NAME` must not be the first to find that a
name it uses from gbaletter is gone (the benchmarks run only by hand, and make lint does not
type-check them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(path.stem for path in (ROOT / "bench").glob("*.py") if path.stem != "__main__")


@pytest.mark.parametrize("module", MODULES)
def test_a_benchmark_module_imports(module):
    imported = subprocess.run([sys.executable, "-c", f"import bench.{module}"], cwd=ROOT,
                              capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr[-2000:]
