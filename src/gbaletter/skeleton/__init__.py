"""`gbaletter init DIR`: a new workspace from the skeleton shipped in the package.

The skeleton (`files/` beside this module, package data) is a commented `gbaletter.toml`, a
`.gitignore`, one sample post and one briefs file; `.env` gets a generated GBALETTER_SECRET.
The sample content is dated the day `init` runs, so the first `issue new --week <this week>`
finds it and the first build works at once.
The templates stay in the package (upgrades bring their fixes) unless `templates=True` copies
them into `DIR/templates/` for editing; a copied template then overrides the packaged one.

The workspace is written in a temporary folder beside DIR and moved into place in one step, so
an error never leaves a half-made workspace.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from zoneinfo import ZoneInfo

from ..config import CONFIG_NAME, ENV_FILE, parse_config
from ..errors import GbaletterError
from ..fsutil import replace_folder
from ..tokens import SECRET_ENV

EMPTY_FOLDERS = ("issues", "subscribers")


@dataclass(frozen=True)
class NewWorkspace:
    root: Path
    files: list[str]   # relative paths written, folders with a trailing '/'
    week: str          # the ISO week of the sample content, for the next steps


def _tree(folder: Traversable, prefix: str = "") -> dict[str, str]:
    """Every file under a packaged folder: relative path -> text."""
    found: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            found.update(_tree(entry, f"{prefix}{entry.name}/"))
        else:
            found[prefix + entry.name] = entry.read_text(encoding="utf-8")
    return found


def skeleton_files(today: datetime, templates: bool = False) -> dict[str, str]:
    """The new workspace's files (relative path -> text), the sample content dated `today`."""
    year, week, _ = today.isocalendar()
    values = {"date": today.isoformat(sep=" ", timespec="seconds"), "week": f"{year}-W{week:02d}",
              "slug": f"{today:%Y/%m/%d}/welcome"}
    day = f"{today:%Y-%m-%d}"
    names = {"gitignore": ".gitignore", "posts/welcome.md": f"posts/{day}-welcome.md",
             "briefs/briefs.yaml": f"briefs/{day}-briefs.yaml"}
    skeleton = _tree(files(__name__) / "files")
    out = {names.get(name, name): Template(text).substitute(values) if name in names else text
           for name, text in skeleton.items()}
    if templates:
        out.update({f"templates/{name}": text
                    for name, text in _tree(files("gbaletter") / "templates").items()})
    return out


def env_file_text() -> str:
    """The workspace's `.env`: a generated GBALETTER_SECRET, and the other secrets to fill in."""
    return (f"# Secrets of this workspace: never commit this file (.gitignore has it). A variable set\n"
            f"# in the environment wins over this file.\n"
            f"{SECRET_ENV}={secrets.token_urlsafe(32)}\n"
            "# GBALETTER_SMTP_PASSWORD=\n"
            "# GBALETTER_DKIM_KEY=\n")


def create_workspace(root: Path, templates: bool = False, now: datetime | None = None) -> NewWorkspace:
    """Write a new workspace into `root`, which must not exist or be an empty folder. The sample
    content is dated `now` (default: the current time in the skeleton's timezone)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise GbaletterError(f"{root}: not a folder; gbaletter init makes a workspace in a new or empty folder")
    if root.is_dir() and any(root.iterdir()):
        raise GbaletterError(f"{root}: not empty; gbaletter init makes a workspace in a new or empty folder")
    config = parse_config((files(__name__) / "files" / CONFIG_NAME).read_text(encoding="utf-8"))
    now = now or datetime.now(ZoneInfo(config.newsletter.timezone))
    content = skeleton_files(now, templates)
    replace_folder(root, {**content, ENV_FILE: env_file_text()}, folders=EMPTY_FOLDERS)
    (root / ENV_FILE).chmod(0o600)  # the secret: readable by its owner only
    year, week, _ = now.isocalendar()
    return NewWorkspace(root, sorted([*content, ENV_FILE, *(f"{f}/" for f in EMPTY_FOLDERS)]),
                        f"{year}-W{week:02d}")
