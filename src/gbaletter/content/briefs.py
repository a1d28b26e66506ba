"""Brief items: YAML files in `briefs/`, each a list of one-paragraph news items.

The format is meant to be typed quickly: a file sets a default date and tags, each item needs only
a lead-in, a text and a link:

    date: 2019-06-25
    tags: [transport]
    items:
      - lead: Vienna, anyone?
        text: A new route links Guangzhou and Vienna.
        link: https://example.org/vienna

An item's id is the file stem and its position (`2019-06-25-briefs-1`) unless it sets `id`.

A file may say its language (`lang: zh-Hant`), and translate another briefs file
(`translation_of: 2019-06-25-gba-briefs`, docs/editions.md).

A file imported from a feed (`gbaletter posts import`) also records where it came from, so that
importing again updates it instead of adding a copy: `guid` (the feed entry's id) and `url` (the
digest's page on the website). Both are optional and ignored when rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo


from ..errors import GbaletterError
from ..fsutil import shown
from . import frontmatter, markdown
from .dates import to_datetime
from .posts import EDITION_KEYS, parse_tags

FILE_KEYS = {"date", "tags", "items", "guid", "url", *EDITION_KEYS}
ITEM_KEYS = {"id", "lead", "text", "link", "date", "tags"}


@dataclass(frozen=True)
class Brief:
    id: str
    path: Path
    lead: str
    text: str
    link: str
    date: datetime
    tags: tuple[str, ...]
    guid: str = ""
    # the file's: its language, the briefs file (stem) it translates, how it was derived
    lang: str = ""
    translation_of: str = ""
    converted: str = ""

    @property
    def text_html(self) -> str:
        return markdown.to_inline_html(self.text)

    @property
    def plain_text(self) -> str:
        return markdown.html_to_text(self.text_html)


def _field(item: dict, key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise GbaletterError(f"{where}: needs '{key}' text")
    return " ".join(value.split())


def parse_briefs(path: Path, text: str, tz: ZoneInfo) -> list[Brief]:
    where = shown(path)
    data = frontmatter.load_yaml(text, where)
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise GbaletterError(f"{where}: must be a mapping with an 'items' list")
    unknown = sorted(set(data) - FILE_KEYS)
    if unknown:
        raise GbaletterError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(FILE_KEYS))})")
    file_tags = parse_tags(data.get("tags"), where)
    for key in ("guid", "url", *EDITION_KEYS):
        if not isinstance(data.get(key, ""), str):
            raise GbaletterError(f"{where}: '{key}' must be text")
    briefs = []
    for number, item in enumerate(data["items"], start=1):
        item_where = f"{where}: item {number}"
        if not isinstance(item, dict):
            raise GbaletterError(f"{item_where}: must be a mapping (lead, text, link)")
        unknown = sorted(set(item) - ITEM_KEYS)
        if unknown:
            raise GbaletterError(f"{item_where}: unknown key '{unknown[0]}' "
                                 f"(known: {', '.join(sorted(ITEM_KEYS))})")
        raw_date = item.get("date", data.get("date"))
        if raw_date in (None, ""):
            raise GbaletterError(f"{item_where}: no 'date' (set it on the item or the file)")
        try:
            date = to_datetime(raw_date, tz)
        except ValueError as exc:
            raise GbaletterError(f"{item_where}: 'date': {exc}") from None
        tags = tuple(dict.fromkeys(file_tags + parse_tags(item.get("tags"), item_where)))
        briefs.append(Brief(
            id=str(item.get("id") or f"{path.stem}-{number}"), path=path,
            lead=_field(item, "lead", item_where), text=_field(item, "text", item_where),
            link=_field(item, "link", item_where), date=date, tags=tags,
            guid=data.get("guid", "").strip(),
            **{key: data.get(key, "").strip() for key in EDITION_KEYS},
        ))
    return briefs


def briefs_text(data: dict) -> str:
    """The file text for a briefs file (used by importers); keys kept in the given order."""
    return frontmatter.dump_yaml(data)


def load_briefs(folder: Path, tz: ZoneInfo) -> list[Brief]:
    """Every brief in `folder`, oldest first; broken files are reported together, one a line."""
    briefs, problems = [], []
    for path in sorted([*Path(folder).glob("*.yaml"), *Path(folder).glob("*.yml")]):
        try:
            briefs.extend(parse_briefs(path, frontmatter.read_text(path), tz))
        except GbaletterError as exc:
            problems.append(str(exc))
    seen: dict[str, Path] = {}
    for brief in briefs:
        if brief.id in seen:
            problems.append(f"{shown(brief.path)}: brief id '{brief.id}' "
                            f"is also used in {shown(seen[brief.id])}")
        seen[brief.id] = brief.path
    if problems:
        raise GbaletterError("\n".join(problems))
    briefs.sort(key=lambda b: (b.date, b.id))
    return briefs
