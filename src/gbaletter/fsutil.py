"""Writing files so that a crash or a full disk never leaves a half-written one behind."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import GbaletterError


def key_line(path: Path, key: str) -> int:
    """The line of a YAML file's (or front matter's) top-level `key`, where a message about its
    value points (an edition's `subject:` under `editions` is not the manifest's); 0 when it
    cannot tell."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return 0
    top_level = re.compile(rf"{re.escape(key)}\s*:")
    return next((number for number, line in enumerate(text.splitlines(), start=1) if top_level.match(line)), 0)


def _fail(path: Path, exc: OSError) -> GbaletterError:
    return GbaletterError(f"cannot write {path}: {exc.strerror or exc}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` in one step (temporary file in the same folder, then rename)."""
    path = Path(path)
    payload = data if isinstance(data, bytes) else data.encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it private; keep the usual mode
    except OSError as exc:
        raise _fail(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _fail(path, exc) from None


def _staged(folder: Path, files: Mapping[str, str | bytes], folders: Iterable[str] = ()) -> Path:
    """A sibling temporary folder holding `files` (relative path -> content) and `folders`."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a build folder is not
    except OSError as exc:
        raise _fail(folder, exc) from None
    try:
        for name in folders:
            (staging / name).mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8", newline="\n")
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _fail(folder, exc) from None
    return staging


def replace_folder(folder: Path, files: Mapping[str, str | bytes], folders: Iterable[str] = ()) -> None:
    """Write `files` (relative path -> content) and the empty `folders` as the whole new content of
    `folder`, all or nothing.

    The files go to a sibling temporary folder first; only when every one is written does it take
    the place of the old folder, so readers never see a mix of two builds.
    """
    folder = Path(folder)
    staging = _staged(folder, files, folders)
    try:
        old = folder.with_name(f".{folder.name}.old")
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
        os.replace(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _fail(folder, exc) from None


def create_folder(folder: Path, files: Mapping[str, str | bytes]) -> bool:
    """Write `files` as the new folder `folder`, all at once, unless it exists: then nothing is
    written and the answer is False. Of several processes doing it at once exactly one wins."""
    folder = Path(folder)
    if folder.exists():
        return False
    staging = _staged(folder, files)
    try:
        os.rename(staging, folder)  # fails when the folder appeared meanwhile (and is not empty)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if folder.exists():
            return False
        raise _fail(folder, exc) from None
    return True


def shown(path: Path) -> str:
    """A path as messages show it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
