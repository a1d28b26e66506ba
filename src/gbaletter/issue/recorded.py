"""What a build wrote, read back without the build stack: all a send needs to know of a build.

`issue build` writes `build/build.json`: the subject, the digest of every input (`inputs`) and
the input files that digest covers (`files`: the manifest and the posts and briefs it names; the
templates folder and the settings in BUILD_SETTINGS are hashed too). The static `issue check` of a
current build writes its verdict beside it (`build/check.json`), keyed by the same digest and the
settings the check reads. So a send reads files and hashes them, and never imports Jinja, MJML,
premailer, lxml or the checker (issue 21: they were 82 MB of the send process before its first
message).

A build by an older gbaletter lists no `files`, and a verdict may be missing or be for other
inputs or settings; then `read_build_files` returns None and `recorded_errors` returns None, and the
caller takes the full way (`built.build_state`, `check.check_build`), which decides the same.
The one thing the recorded list cannot see is a brief added in another file under an id the
manifest already names (the manifest and its listed files unchanged); `issue check` sees it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..config import Workspace
from ..errors import GbaletterError
from ..fsutil import write_atomic

BUILD_INFO = "build.json"
IMAGES_INFO = "images.json"  # which post each of the build's image files came from (issue/images.py)
VERDICT_FILE = "check.json"
# The settings a build is made from; the others ([smtp], [database], ...) may change without
# making a build stale (a new relay or concurrency must not force a rebuild before a send).
BUILD_SETTINGS = ("newsletter", "paths", "sections", "kickers", "images")
# The settings the static check reads besides the build's own (the tracked HTML's size).
CHECK_SETTINGS = ("tracking",)


def _settings(ws: Workspace, names: tuple[str, ...]) -> dict:
    values = {name: getattr(ws.config, name) for name in names}
    return {name: value if isinstance(value, dict) else dataclasses.asdict(value)
            for name, value in values.items()}


def _name(ws: Workspace, path: Path) -> str:
    return str(path.relative_to(ws.root) if path.is_relative_to(ws.root) else path)


def input_names(ws: Workspace, files: Iterable[Path]) -> list[str]:
    """The input files as build.json lists them: relative to the workspace where they are in it."""
    return sorted({_name(ws, path) for path in files})


def inputs_digest(ws: Workspace, files: Iterable[Path]) -> str:
    """A hash of everything a build is made from: the input `files`, every file of the templates
    folder, and the settings in BUILD_SETTINGS. An input that cannot be read raises OSError."""
    paths = set(files)
    if ws.templates_dir.is_dir():
        paths.update(p for p in ws.templates_dir.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    digest.update(json.dumps(_settings(ws, BUILD_SETTINGS), sort_keys=True, default=str).encode())
    for path in sorted(paths):
        digest.update(_name(ws, path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def read_info(folder: Path) -> dict | None:
    """The build's build.json, or None when there is none readable."""
    try:
        info = json.loads((folder / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


@dataclass(frozen=True)
class BuildFiles:
    """A build's files as read back: what a send sends, and whether the inputs changed since."""

    issue_id: str
    folder: Path
    html: str
    text: str
    info: dict  # build.json
    up_to_date: bool


def recorded_name_fallback(info: dict, language: str, default: str) -> str:
    """The word a send of the build with build.json `info` greets a reader without a name with in
    the edition in `language` ("": the build's one email, or its default language's); `default`
    (the settings' word, as the send takes it) for a build older than that entry."""
    editions = info.get("editions")
    edition = editions.get(language) if isinstance(editions, dict) else None
    return str((edition if isinstance(edition, dict) else info).get("name_fallback", default))


def edition_file(name: str, language: str) -> str:
    """`email.html` -> `email.zh-Hant.html`: the file of one edition in a build."""
    stem, dot, suffix = name.partition(".")
    return f"{stem}.{language}{dot}{suffix}"


def edition_texts(built: BuildFiles, language: str) -> tuple[str, str]:
    """The email.<language>.html and .txt of a build with editions (build.json `editions`)."""
    try:
        return ((built.folder / edition_file("email.html", language)).read_text(encoding="utf-8"),
                (built.folder / edition_file("email.txt", language)).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        raise GbaletterError(f"the build of issue {built.issue_id} lists a {language} edition but its "
                             f"files are missing: run `gbaletter issue build {built.issue_id}`") from None


def read_texts(ws: Workspace, issue_id: str, folder: Path, info: dict | None) -> tuple[str, str]:
    """email.html and email.txt of a build with its build.json `info`, or the error that says
    how to make them."""
    try:
        if info is not None:
            return ((folder / "email.html").read_text(encoding="utf-8"),
                    (folder / "email.txt").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        pass
    raise GbaletterError(f"issue {issue_id} has no complete build in {ws.display(folder)}: "
                         f"run `gbaletter issue build {issue_id}`")


def read_build_files(ws: Workspace, issue_id: str) -> BuildFiles | None:
    """The build of `issue_id`, its freshness decided from the input files build.json lists.

    None when there is no build.json or it lists no files (built by an older gbaletter): the
    caller then asks `built.build_state`, which also names a missing or broken manifest.
    """
    folder = ws.issue_dir(issue_id) / "build"
    info = read_info(folder)
    if info is None or not isinstance(info.get("files"), list):
        return None
    try:
        current = inputs_digest(ws, (ws.root / name for name in info["files"])) == info.get("inputs")
    except OSError:  # an input was removed or renamed since the build
        current = False
    html, text = read_texts(ws, issue_id, folder, info)
    return BuildFiles(issue_id, folder, html, text, info, current)


def _verdict_key(ws: Workspace, built: BuildFiles) -> dict:
    return {"inputs": built.info.get("inputs"), "settings": _settings(ws, CHECK_SETTINGS),
            "gbaletter": __version__}


def record_errors(ws: Workspace, built: BuildFiles, errors: list[tuple[str, str]]) -> None:
    """Keep the static check's errors ((where, message) each) of a current build beside it.

    Not kept when the folder cannot be written: the send then runs the check itself.
    """
    if not built.up_to_date:
        return
    verdict = {**_verdict_key(ws, built), "errors": [list(error) for error in errors]}
    try:
        write_atomic(built.folder / VERDICT_FILE, json.dumps(verdict, indent=2) + "\n")
    except GbaletterError:
        pass


def recorded_errors(ws: Workspace, built: BuildFiles) -> list[tuple[str, str]] | None:
    """The static check's errors recorded for this build and these settings, or None when no
    such verdict was recorded (the caller runs the check)."""
    try:
        verdict = json.loads((built.folder / VERDICT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    key = _verdict_key(ws, built)
    if not isinstance(verdict, dict) or any(verdict.get(name) != value for name, value in key.items()):
        return None
    return [(str(where), str(message)) for where, message in verdict.get("errors", [])]
