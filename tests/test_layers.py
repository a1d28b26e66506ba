"""Imports only go down the layers of docs/architecture.md: read from the source with ast.

The table below is the one in docs/architecture.md ("Layers"); a new package gets a row in both.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from support.workspace import REPO

PACKAGE = REPO / "src" / "gbaletter"
ARCHITECTURE = REPO / "docs" / "architecture.md"

# The bottom layer: shared by every package, and each of them may use the others. (`__init__` is
# gbaletter/__init__.py, which holds only the version.)
BOTTOM = frozenset({"config", "errors", "placeholders", "fsutil", "tokens", "links", "interrupts", "db",
                    "fetch", "languages", "translations", "textwidth", "__init__"})

# package -> the packages above the bottom layer it may import (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    **{name: frozenset() for name in BOTTOM},
    "content": frozenset(),
    "issue": frozenset({"content"}),
    "subscribers": frozenset(),
    "delivery": frozenset({"issue", "subscribers"}),
    "schedule": frozenset({"delivery", "subscribers"}),
    "skeleton": frozenset(),
    "tracking": frozenset({"delivery"}),
    "report": frozenset({"tracking", "feedback", "delivery", "subscribers", "issue"}),
    "web": frozenset({"tracking", "delivery", "subscribers", "issue"}),
    "feedback": frozenset({"delivery", "subscribers"}),
    "doctor": frozenset({"delivery", "feedback"}),
    "cli": frozenset({"content", "issue", "subscribers", "delivery", "feedback", "tracking", "report", "schedule",
                      "skeleton", "web", "doctor"}),
    "__main__": frozenset({"cli"}),  # `python -m gbaletter`
}

# Alembic's environment collects every layer's models (db/ itself may not import them), and
# the revisions import nothing of the application.
EXEMPT = (PACKAGE / "db" / "migrations",)


def package_of(root: Path, path: Path) -> str:
    """The layer a source file belongs to: its top folder under gbaletter/, or its module name."""
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else path.stem


def imported_modules(root: Path, path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `path`, lazy ones included."""
    module = ".".join(("gbaletter", *path.relative_to(root).with_suffix("").parts))
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = here.split(".")[:len(here.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            if node.module:
                found.append((node.lineno, target))
            else:  # `from .. import placeholders`: the names are modules
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def layer_problems(root: Path, exempt: tuple[Path, ...] = ()) -> list[str]:
    """One line per import that goes up or sideways, and per package missing from the table."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        if any(path.is_relative_to(folder) for folder in exempt):
            continue
        where = path.relative_to(root.parent)
        package = package_of(root, path)
        if package not in ALLOWED:
            problems.append(f"{where}: package '{package}' is not in the layer table; add it to "
                            "ALLOWED in tests/test_layers.py and to the table in docs/architecture.md")
            continue
        for line, name in imported_modules(root, path):
            parts = name.split(".")
            if parts[0] != "gbaletter" or len(parts) < 2:
                continue
            target = parts[1]
            if target not in ALLOWED and not (root / target).is_dir() and not (root / f"{target}.py").is_file():
                target = "__init__"  # a name defined in gbaletter/__init__.py (__version__)
            if target == package or target in BOTTOM or target in ALLOWED[package]:
                continue
            may = ", ".join(sorted(ALLOWED[package])) or "nothing above the bottom layer"
            problems.append(f"{where}:{line}: {package} imports {name}; {package} may use {may}")
    return problems


def test_imports_only_go_down_the_layers():
    assert layer_problems(PACKAGE, EXEMPT) == []


def test_an_upward_import_and_an_unknown_package_are_named(tmp_path):
    root = tmp_path / "gbaletter"
    for name, text in {"db/engine.py": "from ..delivery import journal\n",
                       "issue/render.py": "from ..content import posts\nimport gbaletter.web.app\n",
                       "analytics/__init__.py": "from ..delivery import smtp\n",
                       "tokens.py": "from . import errors\nfrom .subscribers.models import Status\n"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    assert layer_problems(root) == [
        "gbaletter/analytics/__init__.py: package 'analytics' is not in the layer table; add it to "
        "ALLOWED in tests/test_layers.py and to the table in docs/architecture.md",
        "gbaletter/db/engine.py:1: db imports gbaletter.delivery; db may use nothing above the bottom layer",
        "gbaletter/issue/render.py:2: issue imports gbaletter.web.app; issue may use content",
        "gbaletter/tokens.py:2: tokens imports gbaletter.subscribers.models; "
        "tokens may use nothing above the bottom layer",
    ]


def test_the_layer_table_is_the_one_in_the_architecture_doc():
    documented = {name: frozenset(re.findall(r"`(\w+)`", uses)) for name, uses in
                  re.findall(r"^\| `(\w+)/?` \| (.*?) \|", ARCHITECTURE.read_text(encoding="utf-8"), re.M)}
    assert documented == {name: uses for name, uses in ALLOWED.items()
                          if name not in BOTTOM and not name.startswith("__")}


def test_every_models_module_is_collected_by_the_migrations():
    env = PACKAGE / "db" / "migrations" / "env.py"
    collected = {name for _, name in imported_modules(PACKAGE, env)}
    models = {".".join(("gbaletter", *path.relative_to(PACKAGE).with_suffix("").parts))
              for path in PACKAGE.rglob("models.py")}
    assert models <= collected, f"{env.relative_to(REPO)} does not import {sorted(models - collected)}"
