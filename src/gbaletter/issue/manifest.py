"""The issue manifest, `issues/<ID>/issue.yaml`: what an editor edits between `new` and `build`.

Posts and briefs are listed by reference (post slug, brief id), so a fix to a post reaches the
issue at the next build. The manifest is written with comments so an editor can edit it by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from ..config import Workspace
from ..content import frontmatter
from ..errors import GbaletterError, at_line, line_of
from ..fsutil import write_atomic
from ..languages import UnknownLanguage, normalize_language
from .ids import check_issue_id

MANIFEST_NAME = "issue.yaml"
KEYS = {"id", "number", "date", "subject", "preheader", "intro", "featured", "posts", "briefs", "editions",
        "untranslated"}
# What an edition does with a story that has no text in its language (docs/editions.md).
UNTRANSLATED = ("label", "leave-out")
EDITION_KEYS = ("subject", "preheader", "intro")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class EditionText:
    """What an edition says in its own words: subject, preheader and intro."""

    subject: str
    preheader: str = ""
    intro: str = ""


@dataclass(frozen=True)
class Manifest:
    id: str
    number: int
    date: date
    subject: str
    preheader: str = ""
    intro: str = ""
    featured: tuple[str, ...] = ()
    posts: tuple[str, ...] = ()
    briefs: tuple[str, ...] = ()
    path: Path | None = field(default=None, compare=False)
    # the other languages' subject, preheader and intro; the top-level ones are the default's
    editions: dict[str, EditionText] = field(default_factory=dict)
    # a story with no text in an edition's language: shown labelled with its own ("label"), or
    # not in that edition ("leave-out")
    untranslated: str = "label"

    def text(self, language: str) -> EditionText | None:
        """The subject, preheader and intro of the edition in `language`; None when the manifest
        has none in it (the default language's are the top-level keys)."""
        if language == self.language:
            return EditionText(self.subject, self.preheader, self.intro)
        return self.editions.get(language)

    language: str = "en"  # the desk's default when the manifest was read


def manifest_path(ws: Workspace, issue_id: str) -> Path:
    return ws.issue_dir(check_issue_id(issue_id)) / MANIFEST_NAME


def _one_line(value: object, key: str, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)):
        raise GbaletterError(f"{where}: '{key}' must be text")
    text = str(value).strip()
    if CONTROL.search(text):
        raise GbaletterError(f"{where}: '{key}' must be one line without control characters")
    return text


def _references(value: object, key: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise GbaletterError(f"{where}: '{key}' must be a list of ids")
    return tuple(str(v) for v in value)


def load_manifest(ws: Workspace, issue_id: str) -> Manifest:
    path = manifest_path(ws, issue_id)
    if not path.is_file():
        raise GbaletterError(f"no issue '{issue_id}' ({ws.display(path)} does not exist; "
                             f"create it with `gbaletter issue new`)")
    where = ws.display(path)
    source = frontmatter.read_text(path)
    data = frontmatter.load_yaml(source, where)
    if not isinstance(data, dict):
        raise GbaletterError(f"{where}: must be a mapping of keys to values")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise GbaletterError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(KEYS))})")
    number = data.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise GbaletterError(f"{where}: 'number' must be a whole number (0 for a trial issue)")
    issue_date = data.get("date")
    if isinstance(issue_date, datetime):
        issue_date = issue_date.date()
    if not isinstance(issue_date, date):
        raise GbaletterError(f"{where}: 'date' must be a date like 2019-06-30")
    text = _edition_text(data, where)
    return Manifest(
        id=issue_id, number=number, date=issue_date, subject=text.subject, preheader=text.preheader,
        intro=text.intro,
        featured=_references(data.get("featured"), "featured", where),
        posts=_references(data.get("posts"), "posts", where),
        briefs=_references(data.get("briefs"), "briefs", where), path=path,
        editions=_editions(data.get("editions"), ws.config.newsletter.languages, where, source),
        language=ws.config.newsletter.language,
        untranslated=_untranslated(data.get("untranslated", "label"), where),
    )


def _untranslated(value: object, where: str) -> str:
    if value not in UNTRANSLATED:
        raise GbaletterError(f"{where}: 'untranslated' must be {' or '.join(UNTRANSLATED)}, not {value!r}")
    return str(value)


def _editions(value: object, languages: list[str], where: str, text: str) -> dict[str, EditionText]:
    """`editions:` language -> {subject, preheader, intro} for the desk's other languages; a
    problem with one names the line of its language (`text` is the manifest's)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GbaletterError(f"{where}: 'editions' must map languages to subject, preheader and intro")
    editions = {}
    block = line_of(text, r"editions\s*:")
    for key, entry in value.items():
        line = at_line(where, line_of(text, rf"{re.escape(str(key))}\s*:", after=block))
        try:
            language = normalize_language(str(key), languages)
        except UnknownLanguage as exc:
            raise GbaletterError(f"{line}: 'editions': {exc}") from None
        here = f"{line}: 'editions' {key}"
        if language == languages[0]:
            raise GbaletterError(f"{here}: {language} is the desk's default language; its subject, "
                                 "preheader and intro are the top-level keys")
        if language in editions:
            raise GbaletterError(f"{here}: {language} is given twice")
        if not isinstance(entry, dict) or not set(entry) <= set(EDITION_KEYS):
            raise GbaletterError(f"{here}: must be a mapping with {', '.join(EDITION_KEYS)}")
        editions[language] = _edition_text(entry, here)
    return editions


def _edition_text(data: dict, where: str) -> EditionText:
    """The subject (required), preheader and intro of a manifest or one of its editions."""
    subject = _one_line(data.get("subject"), "subject", where)
    if not subject:
        raise GbaletterError(f"{where}: 'subject' is empty")
    intro = data.get("intro") or ""
    if not isinstance(intro, str):
        raise GbaletterError(f"{where}: 'intro' must be text (Markdown)")
    return EditionText(subject, _one_line(data.get("preheader"), "preheader", where), intro.strip())


def _yaml_scalar(value: str) -> str:
    """A one-line YAML string (double-quoted, escaped) that reads back as exactly `value`."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _indented(text: str, indent: str) -> str:
    return "\n".join(indent + line if line else "" for line in text.splitlines())


def _reference_list(key: str, entries: list[tuple[str, str]], help_text: str) -> str:
    lines = [f"# {help_text}", f"{key}:" if entries else f"{key}: []"]
    lines += [f"  - {_yaml_scalar(ref)}  # {label}" for ref, label in entries]
    return "\n".join(lines)


def manifest_text(manifest: Manifest, labels: dict[str, str]) -> str:
    """The commented YAML an editor sees; `labels` gives a title for each referenced id."""

    def entries(refs: tuple[str, ...]) -> list[tuple[str, str]]:
        return [(ref, " ".join(labels.get(ref, "").split())) for ref in refs]

    intro = _indented(manifest.intro, "  ")
    parts = [
        f"# Issue {manifest.id}: edit freely, then run `gbaletter issue build {manifest.id}`.",
        f"id: {_yaml_scalar(manifest.id)}",
        f"number: {manifest.number}",
        f"date: {manifest.date.isoformat()}",
        "# The subject line and the preview text shown after it in the inbox (one line each).",
        f"subject: {_yaml_scalar(manifest.subject)}",
        f"preheader: {_yaml_scalar(manifest.preheader)}",
        "# The editor's note at the top of the email, in Markdown.",
        "intro: |" + ("\n" + intro if intro else "\n  "),
        _reference_list("featured", entries(manifest.featured),
                        "Featured posts, in order: title, excerpt and a read-more button (ids are post file names)."),
        _reference_list("posts", entries(manifest.posts), "More posts, in order: title and excerpt."),
        _reference_list("briefs", entries(manifest.briefs), "Brief items, in order (ids from briefs/*.yaml)."),
    ]
    if manifest.untranslated != "label":
        parts.append(f"# A story with no text in an edition's language: {' or '.join(UNTRANSLATED)}.\n"
                     f"untranslated: {manifest.untranslated}")
    if manifest.editions:
        parts.append("# The other editions' subject, preheader and intro (docs/editions.md).\neditions:")
        for language, text in manifest.editions.items():
            parts += [f"  {language}:", f"    subject: {_yaml_scalar(text.subject)}",
                      f"    preheader: {_yaml_scalar(text.preheader)}",
                      "    intro: |" + ("\n" + _indented(text.intro, "      ") if text.intro else "\n      ")]
    return "\n".join(parts) + "\n"


def save_manifest(ws: Workspace, manifest: Manifest, labels: dict[str, str]) -> Path:
    path = manifest_path(ws, manifest.id)
    write_atomic(path, manifest_text(manifest, labels))
    return path


def existing_numbers(ws: Workspace, exclude: str = "") -> list[int]:
    """Issue numbers of every manifest but `exclude`; a broken one is an error, not a gap."""
    return [load_manifest(ws, path.parent.name).number
            for path in sorted(ws.issues_dir.glob(f"*/{MANIFEST_NAME}")) if path.parent.name != exclude]
