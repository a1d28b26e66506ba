"""`issue check`'s accessibility rules: what a reader with low vision, a screen reader or a dark
inbox gets from the email.

The structural rules read the HTML (`structure`): the language, layout tables, the order of the
headings, links that say the same and go elsewhere. The measured ones (`measured`) read the
email as Chromium draws it, in the light and the dark scheme: the WCAG contrast of every piece of
visible text against what is painted under it (`text_colours.js` measures the colours, this module
judges them), and text smaller than a phone reader can read. docs/checks.md explains each rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from .rules import ERROR, WARNING, Finding, Rule, describe

CONTRAST = Rule("contrast", ERROR, "text under 4.5:1 contrast with its background (3:1 if large), in "
                "the light or the dark scheme (measured in Chromium)", browser=True)
TEXT_SMALL = Rule("text-small", WARNING, "visible text smaller than phones show comfortably (measured "
                  "in Chromium)", threshold=14, unit="px", below=True, browser=True)
LANG_MISSING = Rule("lang-missing", ERROR, "no `lang` on the root `<html>` element")
TABLE_ROLE = Rule("table-role", WARNING, "a layout table (no `<th>`, no `<caption>`) without "
                  "`role=\"presentation\"`")
HEADING_ORDER = Rule("heading-order", WARNING, "a heading that skips a level, or a first heading "
                     "that is not `<h1>`")
LINK_TEXT = Rule("link-text", WARNING, "links with the same text (or `aria-label`) that go to "
                 "different places")

ACCESSIBILITY_RULES = (CONTRAST, TEXT_SMALL, LANG_MISSING, TABLE_ROLE, HEADING_ORDER, LINK_TEXT)

NORMAL_RATIO, LARGE_RATIO = 4.5, 3.0  # WCAG 2.2 SC 1.4.3, level AA
LARGE_PX, LARGE_BOLD_PX = 24.0, 18.66  # 18 pt, or 14 pt bold
SCHEMES: tuple[Literal["light", "dark"], ...] = ("light", "dark")
MEASURE_TEXT_JS = "text_colours.js"


# --- the WCAG arithmetic ------------------------------------------------------------------------

def _channel(value: float) -> float:
    value /= 255
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def luminance(rgb: Iterable[float]) -> float:
    """WCAG relative luminance of an sRGB colour given as 0-255 channels."""
    red, green, blue = (_channel(value) for value in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: Iterable[float], second: Iterable[float]) -> float:
    """WCAG contrast ratio of two opaque colours, 1.0 to 21.0."""
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def is_large(size_px: float, weight: int) -> bool:
    """WCAG's large text: 18 pt (24 px), or 14 pt (18.66 px) and bold."""
    return size_px >= LARGE_PX or (size_px >= LARGE_BOLD_PX and weight >= 700)


def hex_colour(rgb: Iterable[float]) -> str:
    return "#" + "".join(f"{round(value):02x}" for value in rgb)


# --- from the HTML ------------------------------------------------------------------------------

def structure(doc, at: Callable[[object], str], html_name: str) -> list[Finding]:
    """The rules read from the HTML itself: lang, layout tables, heading order, link text."""
    return [*_lang(doc, html_name), *_tables(doc, at), *_headings(doc, at), *_link_texts(doc, at)]


def _lang(doc, html_name: str) -> list[Finding]:
    if (doc.get("lang") or "").strip():
        return []
    return [LANG_MISSING.finding("the <html> element has no lang: screen readers guess the "
                                 "language and may read English with a Chinese voice (or the "
                                 "reverse); set [newsletter] language", html_name)]


def _tables(doc, at: Callable[[object], str]) -> list[Finding]:
    layout = [table for table in doc.iter("table") if table.get("role") != "presentation"
              and not table.xpath(".//th|.//caption")]
    if not layout:
        return []
    more = f" (and {len(layout) - 1} more)" if len(layout) > 1 else ""
    return [TABLE_ROLE.finding("a layout table without role=\"presentation\": screen readers "
                               f"announce its rows and columns{more}", at(layout[0]))]


def _headings(doc, at: Callable[[object], str]) -> list[Finding]:
    findings, previous = [], 0
    for heading in doc.body.iter("h1", "h2", "h3", "h4", "h5", "h6"):
        level = int(heading.tag[1])
        if previous == 0 and level != 1:
            findings.append(HEADING_ORDER.finding(f"the first heading is an <{heading.tag}>, not "
                                                  "<h1>: screen-reader users jump by headings and "
                                                  "miss what is above", at(heading)))
        elif level > previous + 1 and previous:
            findings.append(HEADING_ORDER.finding(f"an <{heading.tag}> after an <h{previous}> skips "
                                                  "a level", at(heading)))
        previous = level
    return findings


def accessible_name(link) -> str:
    """What a screen reader says for a link: its aria-label, else its text and images' alt text."""
    label = link.get("aria-label")
    if label is None:
        label = " ".join([link.text_content(), *(img.get("alt") or "" for img in link.iter("img"))])
    return " ".join(label.split()).casefold()


def _link_texts(doc, at: Callable[[object], str]) -> list[Finding]:
    by_name: dict[str, dict[str, object]] = {}
    for link in doc.body.iter("a"):
        name, href = accessible_name(link), link.get("href")
        if name and href is not None:
            by_name.setdefault(name, {}).setdefault(href, link)
    return [LINK_TEXT.finding(f"{len(places)} links say {name!r} and go to different places: "
                              "name each one's story (visibly, or in aria-label)",
                              at(next(iter(places.values()))))
            for name, places in by_name.items() if len(places) > 1]


# --- as Chromium draws it -----------------------------------------------------------------------

def measured(browser, html: str, width: int, html_name: str, images=None) -> list[Finding]:
    """Contrast in both schemes and text size, measured in `browser` (a running Chromium)."""
    from importlib import resources

    from .browser import email_page

    script = resources.files(__package__).joinpath(MEASURE_TEXT_JS).read_text(encoding="utf-8")
    findings = []
    for scheme in SCHEMES:
        with email_page(browser, html, width, scheme, images) as page:
            texts = page.evaluate(script)
        findings += contrast_findings(texts, scheme, html_name)
        if scheme == "light":  # sizes do not change with the scheme
            findings += small_text_findings(texts, html_name)
    return findings


def _where(html_name: str, text: dict) -> str:
    where = f"{html_name} {describe(text['tag'], text['attrs'])}"
    return where + (f" {text['text']!r}" if text["text"] else "")


def contrast_findings(texts: list[dict], scheme: str, html_name: str) -> list[Finding]:
    """One finding per colour pair under its ratio in `scheme`, naming the first element so
    coloured and how many more are; text over a background image is not judged."""
    failing: dict[tuple[str, str, float], list[dict]] = {}
    for text in texts:
        if text["overImage"]:
            continue
        needed = LARGE_RATIO if is_large(text["size"], text["weight"]) else NORMAL_RATIO
        if contrast(text["colour"], text["background"]) < needed:
            key = (hex_colour(text["colour"]), hex_colour(text["background"]), needed)
            failing.setdefault(key, []).append(text)
    findings = []
    for (colour, background, needed), texts_so in failing.items():
        ratio = contrast(texts_so[0]["colour"], texts_so[0]["background"])
        others = len(texts_so) - 1
        more = f" (and {others} more element{'s' * (others != 1)})" if others else ""
        findings.append(CONTRAST.finding(f"in the {scheme} scheme, text {colour} on {background} "
                                         f"has a contrast of {ratio:.1f}:1, under {needed:g}:1"
                                         f"{more}", _where(html_name, texts_so[0])))
    return findings


def small_text_findings(texts: list[dict], html_name: str) -> list[Finding]:
    minimum = TEXT_SMALL.threshold
    assert minimum is not None
    small = [text for text in texts if text["size"] < minimum - 0.01]
    if not small:
        return []
    smallest = min(small, key=lambda text: text["size"])
    more = f" ({len(small)} elements; the smallest shown)" if len(small) > 1 else ""
    return [TEXT_SMALL.finding(f"text of {smallest['size']:g} px, under {minimum} px{more}",
                               _where(html_name, smallest))]

