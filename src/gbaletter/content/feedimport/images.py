"""A feed entry's featured image and its alt text, in the order websites offer them:
`media:content` (an image), `media:thumbnail`, an image enclosure, else the first `<img>` of the
content.

feedparser flattens Media RSS (a `media:description`, the alt text, becomes one of the entry's
`content` values, cut off from its image), so the media elements are read from the feed's XML
with lxml, item by item, beside feedparser's entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html

from ..markdown import html_to_text

MEDIA_NAMESPACE = "http://search.yahoo.com/mrss"  # written with and without the last '/'
_IMAGE_FILE = re.compile(r"\.(jpe?g|png|gif|webp|avif)$", re.I)
_ENTRIES = "//*[local-name()='item' or local-name()='entry']"


@dataclass(frozen=True)
class MediaImage:
    url: str
    alt: str  # '' when the feed gives none


@dataclass(frozen=True)
class EntryMedia:
    """What an entry's media elements offer: images in preference order, and the descriptions
    (feedparser takes them for the entry's content; the import must not)."""

    images: tuple[MediaImage, ...] = ()
    descriptions: frozenset[str] = frozenset()


def _is_media(element: lxml.etree._Element, name: str) -> bool:
    return (lxml.etree.QName(element).localname == name
            and lxml.etree.QName(element).namespace is not None
            and lxml.etree.QName(element).namespace.rstrip("/") == MEDIA_NAMESPACE)


def _text(element: lxml.etree._Element | None) -> str:
    if element is None:
        return ""
    text = "".join(element.itertext())
    return html_to_text(text) if element.get("type") == "html" else " ".join(text.split())


def _description(element: lxml.etree._Element) -> str:
    return next((_text(child) for child in element if _is_media(child, "description")), "")


def _is_image(url: str, medium: str | None, kind: str | None) -> bool:
    if medium or kind:
        return medium == "image" or (kind or "").startswith("image/")
    return bool(_IMAGE_FILE.search(urlsplit(url).path))


def _entry_media(entry: lxml.etree._Element) -> EntryMedia:
    shared = _description(entry)  # an item-level description speaks for its only image
    contents, thumbnails, enclosures, descriptions = [], [], [], {shared} - {""}
    for element in entry.iter(lxml.etree.Element):  # elements only, no comments
        url = (element.get("url") or "").strip()
        if _is_media(element, "description"):
            descriptions.add(_text(element))
        if _is_media(element, "content") and url and _is_image(url, element.get("medium"), element.get("type")):
            contents.append(MediaImage(url, _description(element) or shared))
        elif _is_media(element, "thumbnail") and url:
            thumbnails.append(MediaImage(url, shared))
        elif lxml.etree.QName(element).localname in ("enclosure", "link"):
            href = (element.get("href") if element.get("rel") == "enclosure" else url) or ""
            if href and (element.get("type") or "").startswith("image/"):
                enclosures.append(MediaImage(href.strip(), shared))
    return EntryMedia(tuple(contents + thumbnails + enclosures), frozenset(descriptions))


def feed_media(data: bytes, entry_count: int) -> list[EntryMedia]:
    """Each entry's media, in feedparser's order; nothing when the XML cannot be lined up with
    feedparser's entries (a feed too broken for lxml to read alike)."""
    parser = lxml.etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
    try:
        root = lxml.etree.fromstring(data, parser)
    except lxml.etree.XMLSyntaxError:
        root = None
    entries = root.xpath(_ENTRIES) if root is not None else []
    if len(entries) != entry_count:
        return [EntryMedia()] * entry_count
    return [_entry_media(entry) for entry in entries]


def first_img(body_html: str, base: str) -> MediaImage | None:
    """The first `<img>` with an http(s) source in an entry's HTML, its address made absolute."""
    if "<img" not in body_html:
        return None
    try:
        root = lxml.html.fragment_fromstring(body_html, create_parent="div")
    except (ValueError, lxml.etree.ParserError):
        return None
    for image in root.iter("img"):
        url = urljoin(base, (image.get("src") or "").strip())
        if urlsplit(url).scheme in ("http", "https"):
            return MediaImage(url, " ".join((image.get("alt") or "").split()))
    return None


def featured_image(media: EntryMedia, body_html: str, base: str) -> MediaImage | None:
    """The entry's image: its media's first (made absolute against the entry's link; http(s)
    only), else the content's first `<img>`. An image without alt text of its own takes the alt of
    an `<img>` in the content showing the same file."""
    in_body = first_img(body_html, base)
    offered = [MediaImage(urljoin(base, image.url), image.alt) for image in media.images]
    offered = [image for image in offered if urlsplit(image.url).scheme in ("http", "https")]
    if not offered:
        return in_body
    chosen = offered[0]
    if not chosen.alt and in_body and _same_file(chosen.url, in_body.url):
        return MediaImage(chosen.url, in_body.alt)
    return chosen


def _same_file(first: str, second: str) -> bool:
    """The same upload, WordPress's size suffix (`photo-300x200.jpg`) aside."""
    def stem(url: str) -> str:
        return re.sub(r"-\d+x\d+(?=\.\w+$)", "", urlsplit(url).path)
    return stem(first) == stem(second)
