"""Feed HTML made fit for the workspace: a post body, an excerpt, or the items of a briefs digest.

Everything starts from `markdown.sanitize`, so imported HTML obeys the same allow-list as the
renderer; the rest is WordPress housekeeping (more-links, "[…]" and "Read more" stubs, in English
and in Chinese: 繼續閱讀, 继续阅读, 閱讀全文, 阅读全文).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import lxml.html
from lxml.html import HtmlElement

from ..markdown import html_to_text, sanitize

# Top-level tags that open a CommonMark HTML block (<pre> too, as a block of its own kind).
_BLOCK_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "blockquote", "pre", "table",
               "figure", "hr"}
_MORE_LINK = re.compile(r"#more(-\d+)?$")  # WordPress's "Continue reading" anchor
# "Continue reading" and "Read the whole article" as Chinese WordPress themes write them
_CHINESE_STUBS = "繼續閱讀|继续阅读|閱讀全文|阅读全文|閱讀更多|阅读更多|查看全文"
_STUB_LINK = re.compile(rf"^\s*((read more|continue reading|more)\b|{_CHINESE_STUBS})", re.I)
_TRUNCATED = re.compile(r"\s*\[(…|\.\.\.)\]\s*$")
_SENTENCE_END = ".!?…:;)\"”’。！？）」"
_READ_MORE = re.compile(rf"(^|(?<=[{_SENTENCE_END}\]]))\s*((Continue reading|Read more|READ MORE)\b|"
                        rf"{_CHINESE_STUBS}).{{0,80}}$")
_LEAD_PHRASE = re.compile(r"\s*([^\s.!?:][^.!?:]{0,59}[:?])\s+(?=\S)")
# A Chinese lead-in: a short phrase closed by a full-width colon or question mark (深圳灣口岸：…).
_CHINESE_LEAD = re.compile(r"\s*([^\s。！？：:]{1,20}[：？])\s*(?=\S)")
_LEAD_PHRASE_WORDS = 8
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<])|&(?=#?\w+;)")
_NEEDS_ANGLES = re.compile(r"[\s()]")  # a link target that must be written <like this>


def _parse(fragment: str) -> HtmlElement:
    return lxml.html.fragment_fromstring(fragment, create_parent="div")


def _append_text(element: HtmlElement, text: str) -> None:
    if len(element):
        element[-1].tail = (element[-1].tail or "") + text
    else:
        element.text = (element.text or "") + text


def _top_level_blocks(root: HtmlElement) -> list[HtmlElement]:
    """The children of `root`, with loose text and inline elements gathered into paragraphs."""
    blocks: list[HtmlElement] = []
    loose: HtmlElement | None = None

    def open_paragraph() -> HtmlElement:
        nonlocal loose
        if loose is None:
            loose = lxml.html.Element("p")
            blocks.append(loose)
        return loose

    def close_paragraph() -> None:
        nonlocal loose
        if loose is not None:
            last = loose[-1] if len(loose) else None
            if last is None:
                loose.text = (loose.text or "").rstrip()
            else:
                last.tail = (last.tail or "").rstrip() or None
            loose = None

    def add_text(text: str | None) -> None:
        if text and (loose is not None or text.strip()):
            _append_text(open_paragraph(), text.lstrip() if loose is None else text)

    add_text(root.text)
    for child in list(root):
        tail, child.tail = child.tail, None
        if child.tag in _BLOCK_TAGS:
            close_paragraph()
            blocks.append(child)
        else:
            open_paragraph().append(child)
        add_text(tail)
    close_paragraph()
    return blocks


def _serialize(block: HtmlElement) -> str:
    """One block as HTML that CommonMark passes through unchanged.

    A blank line would end the HTML block and let Markdown reinterpret the rest, so blank lines are
    dropped (whitespace is insignificant in HTML) and newlines inside <pre> become `&#10;`.
    """
    text = lxml.html.tostring(block, encoding="unicode").strip()
    text = re.sub(r"<pre\b.*?</pre>", lambda m: m.group(0).replace("\n", "&#10;"), text, flags=re.S)
    return re.sub(r"\n\s*\n", "\n", text).replace("\xa0", "&nbsp;")


def clean_body(fragment: str, base_url: str) -> str:
    """A post body from entry HTML: sanitized, links absolute, WordPress's more-link dropped.

    The more-link ("Continue reading →" to `#more`) only points at the page the post's `url`
    already names, so it is not kept.
    """
    root = _parse(sanitize(fragment, base_url))
    for link in root.xpath(".//a[@href]"):
        href = link.get("href")
        if _MORE_LINK.search(href) or (_STUB_LINK.match(link.text_content())
                                      and href.rstrip("/") == base_url.rstrip("/")):
            parent = link.getparent()
            link.drop_tree()
            if parent.tag == "p" and not len(parent) and not (parent.text or "").strip():
                parent.drop_tree()
    return "\n".join(_serialize(block) for block in _top_level_blocks(root))


def excerpt_text(fragment: str) -> str:
    """Plain text of an entry summary without WordPress's "[…]" and "Read more" stubs.

    When the summary was cut short ("[…]") and does not end a sentence, it ends with "…" instead.
    """
    text = html_to_text(fragment)
    truncated = False
    while match := _TRUNCATED.search(text) or _READ_MORE.search(text):
        truncated = truncated or match.re is _TRUNCATED
        text = text[:match.start()].rstrip()
    if truncated and text and not text.endswith(tuple(_SENTENCE_END)):
        text += "…"
    return text


@dataclass(frozen=True)
class BriefItem:
    lead: str
    text: str  # inline Markdown, as an editor would type it in a briefs file
    link: str


def _escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + (m.group(1) or "&"), re.sub(r"[ \t\r\n]+", " ", text))


def _wrap(inner: str, mark: str) -> str:
    """`inner` between emphasis marks, with its outer spaces moved outside (or they don't parse)."""
    core = inner.strip()
    if not core:
        return inner
    return inner[:len(inner) - len(inner.lstrip())] + mark + core + mark + inner[len(inner.rstrip()):]


def _inline_markdown(element: HtmlElement) -> str:
    """The inline content of `element` as Markdown: links, bold, italics and code kept."""
    parts = [_escape(element.text or "")]
    for child in element:
        inner = _inline_markdown(child)
        if child.tag == "a" and child.get("href"):
            href = child.get("href")
            target = f"<{href}>" if _NEEDS_ANGLES.search(href) else href
            parts.append(f"[{inner}]({target})")
        elif child.tag in ("strong", "b"):
            parts.append(_wrap(inner, "**"))
        elif child.tag in ("em", "i"):
            parts.append(_wrap(inner, "*"))
        elif child.tag == "code":
            parts.append(f"`{child.text_content()}`")
        elif child.tag == "br":
            parts.append(" ")
        else:
            parts.append(inner)
        parts.append(_escape(child.tail or ""))
    return "".join(parts)


def _take_lead(paragraph: HtmlElement) -> str:
    """Remove and return the paragraph's lead-in ('' when it has none).

    A lead-in is a bold opening (`<strong>Smart Ports:</strong> …`) or a short opening phrase
    ending in ':' or '?' (`Vienna, anyone? …`), or in their full-width forms in Chinese
    (`深圳灣口岸：…`); it is kept as written, punctuation included.
    """
    opening = (paragraph.text or "").strip()
    if not opening and len(paragraph) and paragraph[0].tag in ("strong", "b"):
        bold = paragraph[0]
        lead, rest = bold.text_content().strip(), bold.tail or ""
        punctuation = re.match(r"\s*([:?：？])", rest)
        if punctuation:
            lead, rest = lead + punctuation.group(1), rest[punctuation.end():]
        paragraph.text = rest
        paragraph.remove(bold)
        return lead
    phrase = _LEAD_PHRASE.match(paragraph.text or "")
    if phrase and len(phrase.group(1).split()) <= _LEAD_PHRASE_WORDS:
        paragraph.text = paragraph.text[phrase.end():]
        return phrase.group(1)
    phrase = _CHINESE_LEAD.match(paragraph.text or "")
    if phrase:
        paragraph.text = paragraph.text[phrase.end():]
        return phrase.group(1)
    return ""


def _take_link(paragraph: HtmlElement, fallback: str) -> str:
    """The item's link: a trailing "Read more" link (removed from the text), else its last link."""
    last = paragraph[-1] if len(paragraph) else None
    if (last is not None and last.tag == "a" and last.get("href")
            and _STUB_LINK.match(last.text_content()) and not (last.tail or "").strip(" .")):
        paragraph.remove(last)
        return last.get("href")
    links = paragraph.xpath(".//a/@href")
    return links[-1] if links else fallback


def split_briefs(body: str, fallback_link: str) -> tuple[list[BriefItem], list[int]]:
    """The brief items of a digest's cleaned body, and the numbers of paragraphs that are not one.

    Each paragraph (or list item) that opens with a lead-in is one item; an item without a link of
    its own links to `fallback_link` (the digest's page).
    """
    items, strays = [], []
    for number, paragraph in enumerate(_parse(body).xpath("./p | ./ul/li | ./ol/li"), start=1):
        lead = _take_lead(paragraph)
        link = _take_link(paragraph, fallback_link) if lead else ""
        text = _inline_markdown(paragraph).strip() if lead else ""
        if lead and text:
            items.append(BriefItem(lead=lead, text=text, link=link))
        else:
            strays.append(number)
    return items, strays
