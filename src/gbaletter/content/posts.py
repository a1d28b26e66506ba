"""Posts: one Markdown file each in `posts/`, with YAML front matter; the file's stem is its id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ..errors import GbaletterError
from ..fsutil import shown
from . import frontmatter, markdown
from .dates import to_datetime

# A text's language, the original it translates, and the OpenCC configuration that wrote it when
# it was derived rather than translated (content/editions.py checks them against the desk).
EDITION_KEYS = ("lang", "translation_of", "converted")

REQUIRED = ("title", "date")
KNOWN_KEYS = {"title", "date", "tags", "url", "excerpt", "summary", "image", "image_alt",
              "author", "guid", *EDITION_KEYS}


@dataclass(frozen=True)
class Post:
    slug: str
    path: Path
    title: str
    date: datetime
    tags: tuple[str, ...]
    body: str
    url: str = ""
    excerpt: str = ""
    image: str = ""
    image_alt: str = ""
    author: str = ""
    guid: str = ""
    lang: str = ""  # as written; "" is the desk's default language
    translation_of: str = ""
    converted: str = ""

    @property
    def body_html(self) -> str:
        return markdown.to_html(self.body)


def parse_tags(value: object, where: str) -> tuple[str, ...]:
    """Tags as a list or a comma-separated string, lower-cased and stripped."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(t, (str, int)) for t in items):
        raise GbaletterError(f"{where}: 'tags' must be a list of words")
    tags = tuple(dict.fromkeys(str(t).strip().lower() for t in items if str(t).strip()))
    return tags


def _text(meta: dict, key: str, where: str) -> str:
    value = meta.get(key)
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)):
        raise GbaletterError(f"{where}: '{key}' must be text")
    return str(value).strip()


def parse_post(path: Path, text: str, tz: ZoneInfo) -> Post:
    where = shown(path)
    meta, body = frontmatter.split(text, where)
    unknown = sorted(set(meta) - KNOWN_KEYS)
    if unknown:
        raise GbaletterError(f"{where}: unknown front matter key '{unknown[0]}' "
                             f"(known: {', '.join(sorted(KNOWN_KEYS))})")
    for key in REQUIRED:
        if meta.get(key) in (None, ""):
            raise GbaletterError(f"{where}: front matter has no '{key}'")
    try:
        date = to_datetime(meta["date"], tz)
    except ValueError as exc:
        raise GbaletterError(f"{where}: 'date': {exc}") from None
    excerpt = _text(meta, "excerpt", where) or _text(meta, "summary", where) or markdown.first_paragraph(body)
    image, image_alt = _text(meta, "image", where), _text(meta, "image_alt", where)
    if image and not image_alt:
        raise GbaletterError(f"{where}: 'image' needs an 'image_alt' text for readers who cannot see it")
    return Post(
        slug=path.stem, path=path, title=_text(meta, "title", where), date=date,
        tags=parse_tags(meta.get("tags"), where), body=body, url=_text(meta, "url", where),
        excerpt=excerpt, image=image, image_alt=image_alt, author=_text(meta, "author", where),
        guid=_text(meta, "guid", where),
        **{key: _text(meta, key, where) for key in EDITION_KEYS},
    )


def load_post(path: Path, tz: ZoneInfo) -> Post:
    return parse_post(path, frontmatter.read_text(path), tz)


def load_posts(folder: Path, tz: ZoneInfo) -> list[Post]:
    """Every post in `folder`, oldest first. All broken files are reported together, one a line."""
    posts, problems = [], []
    for path in sorted(Path(folder).glob("*.md")):
        try:
            posts.append(load_post(path, tz))
        except GbaletterError as exc:
            problems.append(str(exc))
    if problems:
        raise GbaletterError("\n".join(problems))
    posts.sort(key=lambda p: (p.date, p.slug))
    return posts


def post_text(post_meta: dict, body: str) -> str:
    """The file text for a post (used by importers and `posts new`)."""
    return frontmatter.render({k: v for k, v in post_meta.items() if v not in (None, "", [], ())}, body)
