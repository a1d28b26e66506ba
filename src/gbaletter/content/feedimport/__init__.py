"""Importing posts and briefs from the website's RSS or Atom feed (`gbaletter posts import`).

The website is where editors publish, so it is the source of truth: an entry is found again by
its guid (kept in the post's front matter, or in a briefs file's `guid` key) and its file is
rewritten when the entry changed, under the file's existing name, even if it was edited by hand
meanwhile. A file whose text would not change is not touched, so importing twice changes nothing.

Every file is planned before any is written, and each is written atomically, so a broken feed or
a broken entry never leaves half an import behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from ...config import Workspace
from ...errors import GbaletterError, NothingToDo
from ...fetch import fetcher_for
from ...fsutil import write_atomic
from ...languages import UnknownLanguage, normalize_language
from ..briefs import Brief, load_briefs
from ..posts import Post, load_posts
from .entries import EntryProblem, Planned, Rules, describe, plan
from .source import load_feed

__all__ = ["ImportReport", "import_feed"]


@dataclass
class ImportReport:
    """What an import did; `warnings` and `skipped` are one line each, ready to print."""

    source: str
    since: date | None = None
    written: list[str] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    older: int = 0
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        counts = f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged"
        if self.skipped:
            counts += f", {len(self.skipped)} skipped"
        if self.older:
            counts += f", {self.older} dated before {self.since}"
        return counts


def _language(ws: Workspace, feed_language: str) -> str:
    """The `lang` imported texts get: the desk language the feed says it is written in, when that
    is not the desk's default ("" otherwise, and for a language the desk does not write)."""
    languages = ws.config.newsletter.languages
    try:
        language = normalize_language(feed_language, languages) if feed_language else ""
    except UnknownLanguage:
        return ""
    return "" if language == languages[0] else language


def _rules(ws: Workspace, extra_tags: tuple[str, ...], feed_language: str = "") -> Rules:
    settings = ws.config.imports
    try:
        title = re.compile(settings.briefs_title_pattern) if settings.briefs_title_pattern else None
    except re.error as exc:
        raise GbaletterError(f"gbaletter.toml [import]: 'briefs_title_pattern' is not a valid "
                             f"regular expression: {exc}") from None
    return Rules(tz=ws.tz, extra_tags=extra_tags, digest_title=title,
                 digest_tags=frozenset(t.strip().lower() for t in settings.briefs_tags),
                 lang=_language(ws, feed_language))


def _imported_files(ws: Workspace) -> dict[str, Path]:
    """guid -> the file imported from that entry earlier."""
    found: list[Post | Brief] = [*load_posts(ws.posts_dir, ws.tz), *load_briefs(ws.briefs_dir, ws.tz)]
    index: dict[str, Path] = {}
    for item in found:
        if item.guid:
            index.setdefault(item.guid, item.path)
    return index


def _new_path(folder: Path, stem: str, suffix: str, taken: set[Path]) -> Path:
    """`folder/stem.suffix`, or `stem-2`, `stem-3`... when another entry or a hand-written file
    already has that name."""
    path, number = folder / f"{stem}{suffix}", 1
    while path in taken or path.exists():
        number += 1
        path = folder / f"{stem}-{number}{suffix}"
    return path


def import_feed(ws: Workspace, source: str, extra_tags: tuple[str, ...] = (),
                since: date | None = None) -> ImportReport:
    """Import every entry of the feed at `source` (a file or an http(s) URL) into `ws`.

    Raises GbaletterError, with one line per problem, when nothing could be imported, and
    NothingToDo when every entry is older than `since`.
    """
    feed = load_feed(source, fetcher_for(ws, "feed import"))
    rules = _rules(ws, extra_tags, feed.language)
    start = datetime.combine(since, time(), tzinfo=ws.tz) if since else None
    report = ImportReport(source=source, since=since, warnings=list(feed.warnings))
    existing = _imported_files(ws)
    folders = {"post": (ws.posts_dir, ".md"), "briefs": (ws.briefs_dir, ".yaml")}
    first_seen: dict[str, int] = {}
    plans: list[tuple[Path, Planned]] = []
    for number, (entry, media) in enumerate(zip(feed.entries, feed.media, strict=True), start=1):
        where = f"entry {number} {describe(entry)}"
        try:
            planned = plan(entry, rules, media)
        except EntryProblem as exc:
            report.skipped.append(f"{where}: {exc}")
            continue
        if start and planned.date < start:
            report.older += 1
            continue
        if planned.guid in first_seen:
            report.skipped.append(f"{where}: same guid as entry {first_seen[planned.guid]}")
            continue
        first_seen[planned.guid] = number
        folder, suffix = folders[planned.kind]
        path = existing.get(planned.guid)
        if path and path.parent != folder:
            report.skipped.append(f"{where}: was imported as {ws.display(path)} but is now a "
                                  f"{planned.kind}; delete that file to import it again")
            continue
        plans.append((path or _new_path(folder, planned.stem, suffix, {p for p, _ in plans}),
                      planned))
    for path, planned in plans:
        _write(ws, path, planned, report)
    if not (report.added or report.updated or report.unchanged):
        if report.older and not report.skipped:
            raise NothingToDo(f"{source}: no entries since {since} ({report.older} older)")
        raise GbaletterError("\n".join([*report.warnings, *report.skipped,
                                        f"{source}: nothing could be imported"]))
    return report


def _write(ws: Workspace, path: Path, planned: Planned, report: ImportReport) -> None:
    if not path.exists():
        report.added += 1
        action = "added"
    elif path.read_bytes() == planned.text.encode("utf-8"):
        report.unchanged += 1
        return
    else:
        report.updated += 1
        action = "updated"
    write_atomic(path, planned.text)
    count = f" ({planned.items} briefs)" if planned.kind == "briefs" else ""
    report.written.append(f"{action} {ws.display(path)}{count}")
    report.warnings.extend(f"{ws.display(path)}: {note}" for note in planned.notes)
