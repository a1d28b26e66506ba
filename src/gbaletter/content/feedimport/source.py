"""Getting a feed: read a file or download a URL, parse it, and say plainly when it is not a feed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import feedparser
import lxml.etree
import lxml.html

from ...errors import GbaletterError
from ...fetch import Fetcher
from .images import EntryMedia, feed_media

_SNIFF = 1024  # bytes looked at to tell an HTML page or binary data from a broken feed


@dataclass(frozen=True)
class Feed:
    """A parsed feed: its entries, and warnings about problems that did not stop the import."""

    source: str
    entries: list
    media: list[EntryMedia]  # each entry's images, beside `entries`
    warnings: list[str] = field(default_factory=list)
    language: str = ""  # as the feed says it (<language>zh-HK</language>), "" when it does not


def _is_url(source: str) -> bool:
    return re.match(r"^https?://", source, re.I) is not None


def _read_file(source: str) -> bytes:
    path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        hint = " (a URL must start with http:// or https://)" if "://" not in source else ""
        raise GbaletterError(f"{source}: no such file{hint}") from None
    except IsADirectoryError:
        raise GbaletterError(f"{source}: is a folder, not a feed file") from None
    except OSError as exc:
        raise GbaletterError(f"{source}: cannot read: {exc.strerror or exc}") from None


def _feed_link(data: bytes, source: str) -> str:
    """The feed an HTML page announces in its <head> ('' if none), to suggest it to the user."""
    try:
        page = lxml.html.document_fromstring(data)
    except (ValueError, lxml.etree.ParserError):
        return ""
    for link in page.xpath("//link[@rel='alternate'][@href]"):
        if re.search(r"(rss|atom)\+xml", link.get("type", "")):
            return urljoin(source, link.get("href")) if _is_url(source) else link.get("href")
    return ""


def _not_a_feed(data: bytes, source: str, problem: object) -> GbaletterError:
    head = data[:_SNIFF]
    if not data.strip():
        return GbaletterError(f"{source}: empty, not a feed")
    if re.search(rb"<!doctype html|<html[\s>]", head, re.I):
        link = _feed_link(data, source)
        hint = f"; its feed is {link}" if link else ""
        return GbaletterError(f"{source}: an HTML page, not an RSS or Atom feed{hint}")
    if b"\0" in head:
        return GbaletterError(f"{source}: binary data, not a feed")
    return GbaletterError(f"{source}: not an RSS or Atom feed ({_describe(problem)})")


def _describe(problem: object) -> str:
    """A parser exception as 'line L, column C: message'."""
    line = getattr(problem, "getLineNumber", None)
    column = getattr(problem, "getColumnNumber", None)
    message = getattr(problem, "getMessage", None)
    text = message() if message else str(problem)
    return f"line {line()}, column {column()}: {text}" if line and column else text


def load_feed(source: str, fetcher: Fetcher) -> Feed:
    """Read and parse `source` (a file path, or an http(s) URL downloaded by `fetcher`).

    A feed that is not well-formed but still yields entries is accepted with a warning, because
    the website is usually right about its posts even when its XML is sloppy; with no entries it is
    an error.
    """
    if _is_url(source):
        fetched = fetcher.get(source, accept="application/rss+xml, application/atom+xml, */*;q=0.5")
        data, headers = fetched.content, {"content-type": fetched.content_type}
    else:
        data, headers = _read_file(source), {}
    # sanitize_html=False: nh3 is the one sanitizer, see content.markdown.sanitize.
    parsed = feedparser.parse(data, response_headers=headers, sanitize_html=False)
    problem = parsed.get("bozo_exception")
    if not parsed.get("version") and not parsed.entries:
        raise _not_a_feed(data, source, problem or "no feed elements found")
    if not parsed.entries:
        if problem:
            raise GbaletterError(f"{source}: malformed feed ({_describe(problem)}); no entries could be read")
        raise GbaletterError(f"{source}: the feed has no entries")
    warnings = []
    if problem:
        warnings.append(f"{source}: malformed feed ({_describe(problem)}); "
                        f"importing the {len(parsed.entries)} entries that could be read")
    return Feed(source=source, entries=list(parsed.entries), media=feed_media(data, len(parsed.entries)),
                warnings=warnings, language=str(parsed.feed.get("language") or "").strip())
