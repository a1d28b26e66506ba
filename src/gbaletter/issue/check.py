"""`issue check`: what in a built issue would hurt readers or deliverability, and where it is.

For the sender: `check_issue(ws, issue_id, browser=False) -> Report` (or `check_build` for a
build already read) is a stable interface. Refuse to send when `report.errors` is not empty. It
reads the build in `issues/<ID>/build/` (raising `GbaletterError` when there is none); the one
thing it writes is the static checks' verdict on a current build, `build/check.json`
(`recorded.record_errors`), which the send reads instead of importing this module.

Every finding has a severity (`error` blocks sending, `warning` is for the editor to judge), a
code, a message and where to fix it: a post, brief or manifest line when the problem came from
content, else the element in email.html. Each code is a `Rule` in `RULES`, with its severity,
threshold and one line saying what it finds; docs/checks.md lists them (tests/test_checks_doc.py
keeps the two the same) and says why each threshold is where it is.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree
from lxml.cssselect import CSSSelector, SelectorError

from .. import placeholders
from ..config import Workspace
from ..errors import GbaletterError, at_line
from ..fsutil import key_line
from ..textwidth import display_width
from . import accessibility, htmltree
from .built import DESKTOP_WIDTH, PHONE_WIDTH, BuiltIssue, fill_samples, read_build
from .emailcss import Rule as StyleRule
from .editions import story_problems, untranslated_labels
from .emailcss import declarations, style_rules
from ..links import image_url
from .images import image_posts, served_files
from .links import read_links, sample_token, track
from .manifest import manifest_path
from .recorded import edition_file, edition_texts, record_errors
from .render import GMAIL_CLIP_BYTES, WARN_BYTES, size_problem
from .rules import ERROR, WARNING, Finding, Rule, describe

BUILD_STALE = Rule("build-stale", ERROR, "the build is older than its manifest, content or templates")
HTML_SIZE = Rule("html-size", WARNING, "`email.html` near or past the size at which Gmail clips it "
                 "(with click tracking on: as sent, its links rewritten)",
                 threshold=WARN_BYTES // 1024, limit=GMAIL_CLIP_BYTES // 1024, unit="KB")
LINK_TABLE = Rule("link-table", ERROR, "click tracking on, and the build has no readable `links.json`")
SUBJECT_LONG = Rule("subject-long", WARNING, "a subject longer than inboxes show (measured in "
                    "columns: a Chinese character takes two)", threshold=78, limit=150, unit="columns")
PREHEADER_EMPTY = Rule("preheader-empty", WARNING, "no preheader: inboxes show the email's first words")
PREHEADER_LONG = Rule("preheader-long", WARNING, "a preheader longer than any inbox shows (in columns, "
                      "as subject-long)", threshold=140, unit="columns")
UNSUBSCRIBE_MISSING = Rule("unsubscribe-missing", ERROR,
                           "no `{{unsubscribe_url}}` link in the HTML, or none in the text part")
UNSUBSCRIBE_PLACEHOLDER = Rule("unsubscribe-placeholder", ERROR,
                               "an Unsubscribe link that does not go to `{{unsubscribe_url}}`")
LINK_BROKEN = Rule("link-broken", ERROR, "a link or image address an inbox cannot open")
LINK_HTTP = Rule("link-http", WARNING, "a link or image over `http://`")
IMAGE_ALT = Rule("image-alt", WARNING, "an image without alt text")
IMAGE_WIDTH = Rule("image-width", WARNING, "an image without a pixel width attribute")
TEXT_SHORT = Rule("text-short", WARNING, "a text part much shorter than the HTML's visible text",
                  threshold=50, unit="percent of the HTML's", below=True)
STYLE_NOT_INLINED = Rule("style-not-inlined", WARNING,
                         "a `<style>` rule whose properties the elements it styles do not carry inline")
OUTLOOK_CSS = Rule("outlook-css", WARNING, "CSS that Outlook's Word engine ignores")
IMAGE_WEIGHT = Rule("image-weight", WARNING, "an image file of the build heavier than a story's picture needs",
                    threshold=200, limit=500, unit="KB")
ISSUE_IMAGE_WEIGHT = Rule("issue-image-weight", WARNING, "the build's images, together, heavier than an "
                          "email should make a phone download", threshold=1000, unit="KB")
LABEL_UNTRANSLATED = Rule("label-untranslated", ERROR,
                          "a label with no translation in one of the desk's languages (it would read in "
                          "English), or a translation using a placeholder its English lacks")
STORY_UNTRANSLATED = Rule("story-untranslated", WARNING,
                          "a story of the issue with no text in one of the desk's languages")
TEXT_CONVERTED = Rule("text-converted", WARNING,
                      "a story's text in another language written by OpenCC, not yet reviewed by an editor")
PHONE_OVERFLOW = Rule("phone-overflow", ERROR, "an email wider than a phone's screen (measured in Chromium)",
                      threshold=PHONE_WIDTH, unit="px", browser=True)

RULES: dict[str, Rule] = {rule.code: rule for rule in (
    BUILD_STALE, HTML_SIZE, LINK_TABLE, SUBJECT_LONG, PREHEADER_EMPTY, PREHEADER_LONG, UNSUBSCRIBE_MISSING,
    UNSUBSCRIBE_PLACEHOLDER, LINK_BROKEN, LINK_HTTP, IMAGE_ALT, IMAGE_WIDTH, TEXT_SHORT,
    STYLE_NOT_INLINED, OUTLOOK_CSS, IMAGE_WEIGHT, ISSUE_IMAGE_WEIGHT, LABEL_UNTRANSLATED, STORY_UNTRANSLATED,
    TEXT_CONVERTED, PHONE_OVERFLOW, *accessibility.ACCESSIBILITY_RULES)}

# What the browser runs to measure the phone layout (package data, next to this module).
MEASURE_OVERFLOW_JS = "phone_overflow.js"


@dataclass(frozen=True)
class Report:
    """The findings for one issue, errors first. The sender refuses to send while `errors`."""

    issue_id: str
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def without(self, *codes: str) -> Report:
        return replace(self, findings=tuple(f for f in self.findings if f.code not in codes))

    def lines(self) -> list[str]:
        """One aligned line per finding: severity, code, where, message."""
        code_width = max((len(f.code) for f in self.findings), default=0)
        where_width = min(max((len(f.where) for f in self.findings), default=0), 48)
        return [f"{f.severity:<7}  {f.code:<{code_width}}  {f.where:<{where_width}}  {f.message}"
                for f in self.findings]

    def summary(self) -> str:
        if not self.findings:
            return f"issue {self.issue_id}: no problems found"
        errors, warnings = len(self.errors), len(self.warnings)
        return (f"issue {self.issue_id}: {errors} error{'s' * (errors != 1)}, "
                f"{warnings} warning{'s' * (warnings != 1)}")


def check_issue(ws: Workspace, issue_id: str, browser: bool = False) -> Report:
    """Check the build of `issue_id`; with `browser`, also measure the phone layout in Chromium."""
    return check_build(ws, read_build(ws, issue_id), browser)


def check_build(ws: Workspace, built: BuiltIssue, browser: bool = False) -> Report:
    """`check_issue` for a build already read (its inputs are not loaded and hashed again)."""
    issue_id = built.issue_id
    email = _Email(ws, built)
    untranslated, converted = story_problems(ws, built.contents)
    findings = [*email.freshness(), *email.size(), *email.link_table(), *email.subject(), *email.preheader(),
                *email.unsubscribe(), *email.links_and_images(), *email.text_part(),
                *email.outlook_css(), *email.styles_not_inlined(), *email.image_weight(),
                *accessibility.structure(email.doc, email.at, email.html_name),
                *(LABEL_UNTRANSLATED.finding(what, where) for where, what in untranslated_labels(ws)),
                *(STORY_UNTRANSLATED.finding(what, where) for where, what in untranslated),
                *(TEXT_CONVERTED.finding(what, where) for where, what in converted)]
    editions = [_Email(ws, edition, language) for language, edition in _editions(ws, built)]
    for edition in editions:  # what each edition's own email may get wrong (its labels, its texts)
        findings += [*edition.unsubscribe(), *edition.links_and_images(), *edition.text_part(),
                     *edition.styles_not_inlined(), *accessibility.structure(edition.doc, edition.at,
                                                                             edition.html_name)]
    record_errors(ws, built, [(f.where, f.message) for f in dict.fromkeys(findings) if f.severity == ERROR])
    if browser:
        findings += email.in_chromium()
        for edition in editions:
            findings += edition.in_chromium()
    unique = list(dict.fromkeys(findings))  # a post's link appears on its title and its button
    unique.sort(key=lambda f: f.severity != ERROR)
    return Report(issue_id, tuple(unique))


def _editions(ws: Workspace, built: BuiltIssue) -> list[tuple[str, BuiltIssue]]:
    """Each edition of a build but the default language's (that one is `email.html`), as a build
    of its own email."""
    found = []
    for language in built.info.get("editions", {}):
        if language != ws.config.newsletter.language:
            html, text = edition_texts(built, language)
            found.append((language, dataclasses.replace(built, html=html, text=text)))
    return found


_CONDITIONAL_FOR_OUTLOOK = re.compile(r"\[if\s+[^\]!]*\bmso\b", re.I)
_NON_TEXT = ("head", "style", "script", "title")


class _Email:
    """One build being checked, and how to say where in it (or in its sources) something is."""

    def __init__(self, ws: Workspace, built: BuiltIssue, language: str = ""):
        """`language`: one edition's email.<language>.html of a build with editions."""
        self.ws = ws
        self.built = built
        self.doc = htmltree.document(built.html)
        self.html_name = ws.display(built.folder / (edition_file("email.html", language) if language else "email.html"))
        self.text_name = ws.display(built.folder / (edition_file("email.txt", language) if language else "email.txt"))

    # --- where ------------------------------------------------------------------------------

    def at(self, element) -> str:
        return f"{self.html_name}:{element.sourceline} {describe(element.tag, element.attrib)}"

    @cached_property
    def _sources(self) -> list[tuple[Path, list[str]]]:
        """The files content came from, as lines: posts, briefs, then the manifest (intro)."""
        contents = self.built.contents
        paths = [*(post.path for post in (*contents.featured, *contents.posts)),
                 *(brief.path for brief in contents.briefs), self.manifest_file]
        return [(path, path.read_text(encoding="utf-8").splitlines())
                for path in dict.fromkeys(paths) if path is not None]

    def source_of(self, url: str) -> str | None:
        """`file:line` of the post, brief or manifest that wrote `url`, if one did."""
        pattern = _written_address(url)
        for path, lines in self._sources:
            for number, line in enumerate(lines, start=1):
                if pattern.search(line):
                    return f"{self.ws.display(path)}:{number}"
        return None

    @property
    def manifest_file(self) -> Path:
        return manifest_path(self.ws, self.built.manifest.id)

    def manifest_line(self, key: str) -> str:
        """`issue.yaml:line` of the manifest's top-level `key`."""
        return at_line(self.ws.display(self.manifest_file), key_line(self.manifest_file, key))

    # --- checks -----------------------------------------------------------------------------

    def freshness(self) -> list[Finding]:
        if self.built.up_to_date:
            return []
        return [BUILD_STALE.finding("the manifest, content or templates changed since "
                                    f"this build: run `gbaletter issue build {self.built.issue_id}`",
                                    self.ws.display(self.built.folder))]

    def size(self) -> list[Finding]:
        """The HTML's size as it is sent: with click tracking on, links are longer than built."""
        tracked = self._tracked_html()
        html_bytes = len(tracked.encode("utf-8")) if tracked is not None else self.built.html_bytes
        message, fatal = size_problem(html_bytes)
        if message and tracked is not None:
            message = f"with click tracking on, {message}"
        return [HTML_SIZE.finding(message, self.html_name, past_limit=fatal)] if message else []

    def _tracked_html(self) -> str | None:
        """The HTML as a tracked send writes it (a full-length sample token), or None when clicks
        are not tracked or the link table is missing (`link_table` reports that)."""
        if self.ws.config.tracking.clicks != "on":
            return None
        try:
            links = read_links(self.built.folder)
        except GbaletterError:
            return None
        html, _ = track(self.ws, links, self.built.html, self.built.text, opens=self.ws.config.tracking.opens)
        return fill_samples(html.replace(placeholders.marker("click_token"), sample_token(self.built.issue_id)))

    def link_table(self) -> list[Finding]:
        if self.ws.config.tracking.clicks != "on":
            return []
        try:
            read_links(self.built.folder)
        except GbaletterError as exc:
            return [LINK_TABLE.finding(str(exc), self.ws.display(self.built.folder))]
        return []

    def subject(self) -> list[Finding]:
        subject = self.built.manifest.subject
        warn, limit = SUBJECT_LONG.threshold, SUBJECT_LONG.limit
        assert warn is not None and limit is not None
        width = display_width(subject)
        size = f"{width} columns wide ({len(subject)} characters)"
        if width > limit:
            return [SUBJECT_LONG.finding(f"the subject is {size} (at most {limit}; aim for under {warn})",
                                         self.manifest_line("subject"), past_limit=True)]
        if width > warn:
            return [SUBJECT_LONG.finding(f"the subject is {size}: inboxes cut it after ~{warn} "
                                         "columns, phones after ~40", self.manifest_line("subject"))]
        return []

    def preheader(self) -> list[Finding]:
        preheader = self.built.manifest.preheader
        if not preheader:
            return [PREHEADER_EMPTY.finding("no preheader: inboxes show the email's first words "
                                            "instead", self.manifest_line("preheader"))]
        limit = PREHEADER_LONG.threshold
        assert limit is not None
        width = display_width(preheader)
        if width > limit:
            return [PREHEADER_LONG.finding(f"the preheader is {width} columns wide ({len(preheader)} "
                                           f"characters): no inbox shows more than ~{limit} columns",
                                           self.manifest_line("preheader"))]
        return []

    def unsubscribe(self) -> list[Finding]:
        marker = placeholders.marker("unsubscribe_url")
        findings = []
        anchors = list(self.doc.iter("a"))
        if not any(marker in (a.get("href") or "") for a in anchors):
            labelled = [a for a in anchors if "unsubscribe" in a.text_content().lower()]
            if labelled:
                findings.append(UNSUBSCRIBE_PLACEHOLDER.finding("the Unsubscribe link "
                                        f"goes to {labelled[0].get('href')!r}, not {marker}: it "
                                        "cannot tell who is leaving", self.at(labelled[0])))
            else:
                findings.append(UNSUBSCRIBE_MISSING.finding(
                                        f"no Unsubscribe link (an <a href=\"{marker}\">)", self.html_name))
        if marker not in self.built.text:
            findings.append(UNSUBSCRIBE_MISSING.finding(f"the text part has no {marker}",
                                                        self.text_name))
        return findings

    def links_and_images(self) -> list[Finding]:
        findings = []
        for element in self.doc.iter("a", "img"):
            is_image = element.tag == "img"
            address = element.get("src" if is_image else "href")
            if address is None and not is_image:
                if not (element.get("name") or element.get("id")):  # not an anchor to jump to
                    findings.append(LINK_BROKEN.finding("a link without an address (removed as "
                                                        "unsafe, or never set)", self.at(element)))
                continue
            address = address or ""
            problem = link_problem(address, image=is_image)
            if problem:
                rule, message = problem
                findings.append(rule.finding(message, self.source_of(address) or self.at(element)))
            if is_image:
                findings += self._image(element, address)
        return findings

    def _image(self, image, src: str) -> list[Finding]:
        findings = []
        if not (image.get("alt") or "").strip():
            findings.append(IMAGE_ALT.finding("an image without alt text: readers with images off "
                                              "or a screen reader get nothing",
                                              self.source_of(src) or self.at(image)))
        if not re.fullmatch(r"\d+", (image.get("width") or "").strip()):
            findings.append(IMAGE_WIDTH.finding("an image without a pixel width attribute: Outlook "
                                                "shows it at its file's full size",
                                                self.source_of(src) or self.at(image)))
        return findings

    def image_weight(self) -> list[Finding]:
        """The weight of each resized image the email shows (its file in the build), and their sum."""
        base = image_url(self.ws, "")
        names = dict.fromkeys(src[len(base):] for src in self.doc.xpath("//img/@src") if src.startswith(base))
        posts = image_posts(self.built.folder)
        findings, total = [], 0.0
        for name in names:
            path = self.built.folder / "images" / name
            if not path.is_file():
                continue
            kb = path.stat().st_size / 1024
            total += kb
            if kb > (IMAGE_WEIGHT.threshold or 0):
                findings.append(IMAGE_WEIGHT.finding(
                    f"{name} weighs {kb:.0f} KB (from {posts.get(name, 'an unknown post')}): crop it or "
                    "use a simpler picture", posts.get(name) or self.ws.display(path),
                    past_limit=kb > (IMAGE_WEIGHT.limit or 0)))
        if total > (ISSUE_IMAGE_WEIGHT.threshold or 0):
            findings.append(ISSUE_IMAGE_WEIGHT.finding(
                f"the email's {len(names)} images weigh {total:.0f} KB together: show fewer",
                self.ws.display(self.built.folder / "images")))
        return findings

    def text_part(self) -> list[Finding]:
        html_text = " ".join(visible_text(self.doc.body).split())
        plain = " ".join(re.sub(r"\S+://\S+", "", self.built.text).split())
        percent = TEXT_SHORT.threshold
        assert percent is not None
        if html_text and len(plain) * 100 < percent * len(html_text):
            return [TEXT_SHORT.finding(f"the text part has {len(plain)} characters of text, the "
                                       f"HTML {len(html_text)}: readers of plain text miss the "
                                       "rest, and spam filters notice", self.text_name)]
        return []

    @cached_property
    def _style_rules(self) -> list[tuple[str, StyleRule]]:
        """Each plain rule of the <style> blocks (not in comments, not in @media), with its place."""
        return [(f"{self.html_name}:{style.sourceline + rule.line} <style> {', '.join(rule.selectors)}", rule)
                for style in self.doc.iter("style") for rule in style_rules(style.text or "")]

    def outlook_css(self) -> list[Finding]:
        findings = []
        by_declaration: dict[tuple[str, str, str], list] = {}
        for element in self.doc.body.iter(etree.Element):
            for name, value in declarations(element.get("style") or ""):
                problem = outlook_problem(name, value)
                if problem and not (problem == "margin" and _margin_auto_is_harmless(element)):
                    by_declaration.setdefault((name, value, problem), []).append(element)
        for (name, value, problem), elements in by_declaration.items():
            more = f" (and {len(elements) - 1} more elements)" if len(elements) > 1 else ""
            findings.append(OUTLOOK_CSS.finding(f"Outlook ignores '{name}: {value}'"
                                                f"{OUTLOOK_ADVICE[problem]}{more}", self.at(elements[0])))
        for where, rule in self._style_rules:
            findings += [OUTLOOK_CSS.finding(f"Outlook ignores '{name}: {value}'"
                                             f"{OUTLOOK_ADVICE[problem]}", where)
                         for name, value in rule.declarations if (problem := outlook_problem(name, value))]
        return findings

    def styles_not_inlined(self) -> list[Finding]:
        return [finding for _, rule in self._style_rules for finding in self._not_inlined(rule)]

    def _not_inlined(self, rule: StyleRule) -> list[Finding]:
        findings = []
        properties = [name for name, _ in rule.declarations]
        for selector in rule.selectors:
            if not re.search(r"[.#]", selector) or ":" in selector:
                continue  # type-only resets, and states (:hover) that cannot be inlined anyway
            try:
                elements = CSSSelector(selector)(self.doc.body)
            except SelectorError:
                continue
            relying = []
            for element in elements:
                inline = {name for name, _ in declarations(element.get("style") or "")}
                if missing := [p for p in properties if p not in inline]:
                    relying.append((element, missing))
            if relying:
                element, missing = relying[0]
                findings.append(STYLE_NOT_INLINED.finding(f"'{selector}' sets "
                                        f"{', '.join(missing)} only in a <style> block, which many "
                                        f"clients drop (on {len(relying)} element"
                                        f"{'s' * (len(relying) != 1)}): inline it or give it a "
                                        "fallback", self.at(element)))
        return findings

    def in_chromium(self) -> list[Finding]:
        """The rules measured in one headless Chromium: the phone layout, then the text's colours
        and sizes (`accessibility.measured`)."""
        from .browser import chromium

        html, images = self.built.sample_html(), served_files(self.ws, self.built.folder)
        with chromium() as browser:
            return [*self.phone_layout(browser, html, images),
                    *accessibility.measured(browser, html, DESKTOP_WIDTH, self.html_name, images)]

    def phone_layout(self, browser, html: str, images) -> list[Finding]:
        from importlib import resources  # here, with Chromium: ~3 ms of every `issue build` otherwise

        from .browser import email_page

        script = resources.files(__package__).joinpath(MEASURE_OVERFLOW_JS).read_text(encoding="utf-8")
        with email_page(browser, html, PHONE_WIDTH, images=images) as page:
            measure = page.evaluate(script)
        if measure["scrollWidth"] <= measure["limit"]:
            return []
        widest, where, cause = measure["widest"], self.html_name, ""
        if widest:
            where += f" {describe(widest['tag'], widest['attrs'])}"
            where += f" {widest['text']!r}" if widest["text"] else ""
            cause = f"; the widest part reaches {widest['right']} px"
        return [PHONE_OVERFLOW.finding(f"at {measure['limit']} px the email is "
                                       f"{measure['scrollWidth']} px wide: phone readers must "
                                       f"scroll sideways{cause}", where)]


def _written_address(url: str) -> re.Pattern:
    """How `url` appears where content writes it: a Markdown link or image `](url)`, an autolink
    `<url>`, an HTML attribute, or a whole YAML value (`url: ...`, `- link: ...`)."""
    quoted = re.escape(url)
    forms = [rf"\]\(\s*<?{quoted}>?(?:\s+[\"'(][^)]*)?\)", rf"(?:href|src)\s*=\s*[\"']{quoted}[\"']"]
    if url:
        forms += [rf"<{quoted}>", rf"^\s*(?:-\s+)?[\w-]+:\s*([\"']?){quoted}\1\s*(?:#.*)?$"]
    return re.compile("|".join(forms))


def visible_text(element) -> str:
    """The text a reader sees: no head, styles, comments or `display:none` parts (the preheader)."""
    tail = element.tail or ""
    if (not isinstance(element.tag, str) or element.tag in _NON_TEXT
            or "display:none" in (element.get("style") or "").replace(" ", "").lower()):
        return tail
    return " ".join([element.text or "", *(visible_text(child) for child in element), tail])


def _is_local_host(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or "." not in host
    return not address.is_global


def _split_url(url: str):
    """urlsplit's parts, or None for an address no browser would open as written."""
    if re.search(r"[\s\x00-\x1f]", url):
        return None
    try:
        parts = urlsplit(url)
        _ = parts.port  # reading it raises ValueError for a port that is not a number in range
    except ValueError:
        return None
    return parts


def link_problem(address: str, image: bool = False) -> tuple[Rule, str] | None:
    """(rule, message) when a reader's inbox cannot open `address`, else None."""
    what = "image" if image else "link"
    url = fill_samples(address).strip()
    shown = repr(address if len(address) <= 60 else address[:59] + "\u2026")
    if not url or url.startswith("#"):
        return LINK_BROKEN, f"{what} {shown} goes nowhere from an inbox (an empty or in-page address)"
    parts = _split_url(url)
    if parts is None:
        return LINK_BROKEN, f"{what} {shown} is malformed"
    scheme = parts.scheme.lower()
    if not scheme:
        return LINK_BROKEN, (f"{what} {shown} is relative: an inbox has no page to "
                                      "resolve it against; write the full https:// address")
    if scheme == "mailto" and not image:
        return None if parts.path else (LINK_BROKEN, f"{what} {shown} has no address")
    if scheme not in ("http", "https"):
        return LINK_BROKEN, f"{what} {shown}: '{scheme}:' does not open from an inbox; use https://"
    if not parts.hostname:
        return LINK_BROKEN, f"{what} {shown} is malformed (no host)"
    if _is_local_host(parts.hostname):
        return LINK_BROKEN, f"{what} {shown} points at a local or private address, not the web"
    if scheme == "http":
        return LINK_HTTP, (f"{what} {shown} uses http://: browsers warn and networks "
                                      "can read or change it; use https://")
    return None


OUTLOOK_ADVICE = {
    "display": ": lay out with tables (MJML columns) instead",
    "position": ": elements stay in the flow",
    "margin": " for centring: use align=\"center\" on a table (MJML sections do)",
}


def outlook_problem(name: str, value: str) -> str | None:
    """Which OUTLOOK_ADVICE applies to the declaration `name: value`, if any."""
    value = value.lower().replace("!important", "").strip()
    if name == "display" and value in ("flex", "inline-flex", "grid", "inline-grid"):
        return "display"
    if name == "position" and value not in ("static", "initial", "unset", ""):
        return "position"
    if name in ("margin", "margin-left", "margin-right") and "auto" in value.split():
        return "margin"
    return None


def _margin_auto_is_harmless(element) -> bool:
    """True when Outlook ignoring `margin: auto` changes nothing: the element is full width, or an
    Outlook-only comment next to it gives Outlook a centred table (MJML's "ghost tables")."""
    if ("width", "100%") in declarations(element.get("style") or ""):
        return True
    return any(isinstance(node, etree._Comment) and _CONDITIONAL_FOR_OUTLOOK.match(node.text or "")
               and 'align="center"' in (node.text or "")
               for node in (element.getprevious(), element.getnext()))
