"""Markdown to safe HTML, and the first paragraph as plain text (the excerpt fallback).

Rendering uses markdown-it-py (CommonMark); the result always goes through nh3, so raw HTML in a
post, whether written by an editor or imported from a feed, can never carry scripts into an email.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "em", "figcaption", "figure", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "small", "strong", "sub",
    "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False}).enable("table")


def sanitize(fragment: str, base_url: str | None = None) -> str:
    """Only harmless tags and attributes, only http(s)/mailto links; scripts and styles removed.

    With `base_url` (HTML imported from a web page), relative links and image sources are made
    absolute against it, because an email has no page to be relative to.
    """
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        clean_content_tags={"script", "style", "iframe", "object", "embed", "noscript", "template"},
        link_rel=None,
        url_relative=("rewrite_with_base", base_url) if base_url else None,
    )


def to_html(text: str) -> str:
    return sanitize(_parser().render(text))


def to_inline_html(text: str) -> str:
    """One line of Markdown (e.g. a brief's text) without the surrounding <p>."""
    return sanitize(_parser().renderInline(text))


_BLOCK_TAGS = re.compile(
    r"</?(?:p|br|div|li|ul|ol|h[1-6]|tr|td|th|table|blockquote|pre|hr|figure|figcaption)\b[^>]*>", re.I)
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment on one line (for excerpts, not for whole documents).

    Block tags become spaces; inline tags vanish, so `<b>bold</b>.` stays `bold.`.
    """
    text = _TAGS.sub("", _BLOCK_TAGS.sub(" ", fragment))
    return _SPACE.sub(" ", html.unescape(text)).strip()


def first_paragraph(text: str) -> str:
    """The first paragraph of a Markdown text as plain text ('' when there is none)."""
    tokens = _parser().parse(text)
    for index, token in enumerate(tokens):
        if token.type == "paragraph_open" and index + 1 < len(tokens):
            inline = tokens[index + 1]
            return html_to_text(_parser().renderer.render(inline.children or [], _parser().options, {}))
        if token.type == "html_block":
            paragraph = re.search(r"<p[^>]*>(.*?)</p>", token.content, re.S | re.I)
            if paragraph:
                return html_to_text(paragraph.group(1))
    return ""
