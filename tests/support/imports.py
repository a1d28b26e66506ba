"""What a real `gbaletter` command imports: run in a fresh interpreter, `sys.modules` read after it.

The modules a command must not load unless it uses them, by the stack they belong to. `--help`
loads none of them (tests/test_startup.py); `issue send` none of the build stack
(tests/test_send_imports.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DATABASE_ENGINE = ("sqlalchemy", "alembic")
BUILD_STACK = ("mjml", "premailer", "cssutils", "lxml", "markdown_it", "jinja2")
CHECKER = ("gbaletter.issue.check", "gbaletter.issue.render", "gbaletter.issue.built")
OTHER_HEAVY = ("starlette", "uvicorn", "matplotlib", "playwright", "aiosmtplib", "rich")

_RUN = """
import json, sys
from gbaletter.cli import cli
try:
    cli.main(sys.argv[2:], prog_name="gbaletter")
except SystemExit:
    pass
finally:
    with open(sys.argv[1], "w") as out:
        json.dump(sorted(sys.modules), out)
"""


def modules_loaded(args: list[str], tmp: Path, env: dict[str, str] | None = None,
                   cwd: Path | None = None) -> set[str]:
    """Every module in `sys.modules` once `gbaletter ARGS` has finished in a new interpreter."""
    report = tmp / "modules.json"
    subprocess.run([sys.executable, "-c", _RUN, str(report), *args], capture_output=True,
                   env={**os.environ, **(env or {})}, cwd=cwd, check=False, timeout=120)
    return set(json.loads(report.read_text(encoding="utf-8")))


def loaded_from(modules: set[str], stacks: tuple[str, ...]) -> list[str]:
    """The modules of `modules` that are one of `stacks` or inside one, sorted."""
    return sorted(m for m in modules if any(m == s or m.startswith(s + ".") for s in stacks))
