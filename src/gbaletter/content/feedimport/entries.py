"""One feed entry to the text of one workspace file: a post, or a briefs file for a digest."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, UTC
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from ...textwidth import char_width, display_width, truncate
from ..briefs import briefs_text
from ..dates import in_range
from ..markdown import first_paragraph, html_to_text
from ..posts import parse_tags, post_text
from .images import EntryMedia, featured_image
from .markup import clean_body, excerpt_text, split_briefs

BRIEFS_TAG = "briefs"
_SLUG_LENGTH = 60


class EntryProblem(Exception):
    """Why an entry cannot be imported; the import goes on with the next one."""


@dataclass(frozen=True)
class Rules:
    """What the workspace says about imports: its timezone and how to recognise a digest."""

    tz: ZoneInfo
    extra_tags: tuple[str, ...] = ()
    digest_tags: frozenset[str] = frozenset()
    digest_title: re.Pattern | None = None
    lang: str = ""  # the language imported texts are in, when not the desk's default

    def is_digest(self, title: str, categories: tuple[str, ...]) -> bool:
        """By the entry's own categories or title; a --tag given to the import does not count."""
        return bool(self.digest_tags.intersection(categories)) or bool(
            self.digest_title and self.digest_title.search(title))


@dataclass(frozen=True)
class Planned:
    """The file an entry becomes; `stem` is only a wish, an existing file keeps its own name."""

    kind: str  # "post" or "briefs"
    guid: str
    date: datetime
    stem: str
    text: str
    items: int = 0
    notes: list[str] = field(default_factory=list)


def describe(entry: dict) -> str:
    """How to name an entry in a message: its title, else its id or link."""
    title = _text(entry.get("title_detail") or {})
    return f'"{title}"' if title else f"({entry.get('id') or entry.get('link') or 'no id'})"


def _text(detail: dict) -> str:
    value = detail.get("value", "")
    return html_to_text(value) if "html" in detail.get("type", "") else " ".join(value.split())


def _html(detail: dict) -> str:
    value = detail.get("value", "")
    if "html" in detail.get("type", "text/html"):
        return value
    return "".join(f"<p>{html.escape(part.strip())}</p>" for part in re.split(r"\n\s*\n", value)
                   if part.strip())


def _date(entry: dict, tz: ZoneInfo) -> datetime:
    for key in ("published", "updated"):
        parsed = entry.get(f"{key}_parsed")
        if parsed:
            year, month, day, hour, minute, second = parsed[:6]
            moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
            try:
                return in_range(moment, entry.get(key)).astimezone(tz)
            except ValueError as exc:
                raise EntryProblem(f"date {exc}") from None
    raw = entry.get("published") or entry.get("updated")
    if raw:
        raise EntryProblem(f"date '{raw}' is not understood")
    raise EntryProblem("no date (neither published nor updated)")


def _link(entry: dict) -> str:
    link = (entry.get("link") or "").strip()
    if not link:
        raise EntryProblem("no link")
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # feedparser offers the guid as the link when there is none; a tag: URI is no web page.
        raise EntryProblem("no link" if entry.get("guidislink") else f"link '{link}' is not an http(s) URL")
    return link


def _folded(char: str) -> str:
    """A character as a slug keeps it: Chinese (and other wide) characters as they are, the rest
    folded to ASCII (é -> e) or dropped."""
    if char_width(char) == 2 and char.isalnum():
        return char
    return unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()


def slugify(text: str) -> str:
    """Words joined by '-': ASCII ones, and Chinese characters as written (橫琴粵澳深度合作區), at
    most 60 columns (a Chinese character is two), cut at a word where there is one ('' if
    nothing is left)."""
    folded = "".join(map(_folded, unicodedata.normalize("NFKC", text).lower()))
    slug = re.sub(r"[^a-z0-9\w]+|_+", "-", folded).strip("-")
    if display_width(slug) > _SLUG_LENGTH:
        cut = truncate(slug, _SLUG_LENGTH + 1)
        slug = cut.rsplit("-", 1)[0] if "-" in cut else truncate(slug, _SLUG_LENGTH)
    return slug.strip("-")


def _stem(date: datetime, link: str, title: str, guid: str) -> str:
    """`<date>-<slug>`, the slug from the link's last path segment (the website's own, unless the
    link names the post by a query such as ?p=2101), else the title (a Chinese title keeps its
    characters: 2019-07-02-澳門輕軌將延伸至橫琴), else a hash of the guid."""
    parts = urlsplit(link)
    names_post = re.search(r"(^|&)(p|page_id|id)=", parts.query)
    segment = "" if names_post else unquote(parts.path.rstrip("/").rpartition("/")[2])
    segment = re.sub(r"\.(html?|php|aspx?)$", "", segment)
    slug = next((s for s in map(slugify, (segment, title)) if s and not s.isdigit()), "")
    return f"{date:%Y-%m-%d}-{slug or 'entry-' + hashlib.sha1(guid.encode()).hexdigest()[:8]}"


def _image_meta(media: EntryMedia, body_html: str, link: str) -> dict[str, str]:
    """The post's `image` and `image_alt` (none when the entry has no image)."""
    image = featured_image(media, body_html, link)
    if image is None:
        return {}
    if not image.alt:
        raise EntryProblem(f"its image {image.url} has no alt text (media:description, or the "
                           "<img>'s alt): a post's image needs one for readers who cannot see it")
    return {"image": image.url, "image_alt": image.alt}


def plan(entry: dict, rules: Rules, media: EntryMedia = EntryMedia()) -> Planned:
    """The file `entry` becomes; raises EntryProblem when it lacks what a post needs."""
    title = _text(entry.get("title_detail") or {})
    if not title:
        raise EntryProblem("no title")
    link = _link(entry)
    date = _date(entry, rules.tz)
    guid = (entry.get("id") or link).strip()
    categories = parse_tags([t.get("term") or t.get("label") or "" for t in entry.get("tags", [])],
                            "entry")
    tags = parse_tags([*categories, *rules.extra_tags], "entry")
    # feedparser files a media:description under `content`: it is the image's alt text, not the body
    contents = [c for c in entry.get("content") or [] if c.get("value") not in media.descriptions]
    summary = entry.get("summary_detail")
    body_detail = contents[0] if contents else summary or {}
    body = clean_body(_html(body_detail), link)
    stem = _stem(date, link, title, guid)
    if rules.is_digest(title, categories):
        return _plan_briefs(guid, link, date, stem, tags, body, rules)
    meta = {
        "title": title, "date": date, "tags": list(tags), "url": link,
        "excerpt": excerpt_text(_html(summary)) if summary else first_paragraph(body),
        "author": (entry.get("author_detail") or {}).get("name") or entry.get("author", ""),
        **_image_meta(media, _html(body_detail), link),
        "guid": guid, "lang": rules.lang,
    }
    return Planned(kind="post", guid=guid, date=date, stem=stem, text=post_text(meta, body))


def _plan_briefs(guid: str, link: str, date: datetime, stem: str, tags: tuple[str, ...],
                 body: str, rules: Rules) -> Planned:
    items, strays = split_briefs(body, link)
    if not items:
        raise EntryProblem("a briefs digest, but no paragraph opens with a lead-in "
                           "(<strong>Lead:</strong> text)")
    file_tags = parse_tags([t for t in tags if t not in rules.digest_tags] + [BRIEFS_TAG], "entry")
    data = {"guid": guid, "url": link, **({"lang": rules.lang} if rules.lang else {}), "date": date,
            "tags": list(file_tags), "items": [{"lead": i.lead, "text": i.text, "link": i.link} for i in items]}
    notes = [f"paragraph {n} has no lead-in, so it is not a brief item; left out" for n in strays]
    return Planned(kind="briefs", guid=guid, date=date, stem=stem, text=briefs_text(data),
                   items=len(items), notes=notes)
