"""The Atom feed of past issues (RFC 4287): one entry per sent issue, newest first, for feed
readers and for readers who prefer them to email; on a desk with several languages, one feed per
language (`?lang=zh-Hant`), each entry the issue's edition in it (the default's when it has none)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from xml.etree import ElementTree

from ..config import Workspace
from ..languages import LANGUAGES
from ..links import archive_feed_url, archive_url, view_url
from .archive import ArchivedIssue

ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 50
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _element(tag: str, text: str = "", **attributes: str) -> ElementTree.Element:
    """An Atom element (the standard library's ElementTree: serve loads no lxml for one feed)."""
    element = ElementTree.Element(f"{{{ATOM}}}{tag}", attributes)
    element.text = text or None
    return element


def _with(parent: ElementTree.Element, *children: ElementTree.Element) -> ElementTree.Element:
    parent.extend(children)
    return parent


def _updated(ws: Workspace, issue: ArchivedIssue) -> datetime:
    """When the send started; for an issue sent before that was kept, the issue's date."""
    return issue.sent_at or datetime.combine(issue.date, time(), tzinfo=ws.tz).astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atom_feed(ws: Workspace, issues: list[ArchivedIssue], language: str) -> bytes:
    """The feed of `issues` (newest first, as `archive.sent_issues` gives them) in `language`, one
    of the desk's."""
    news = ws.config.newsletter
    entries = []
    for issue in issues[:MAX_ENTRIES]:
        edition = issue.edition(language)
        url = view_url(ws, issue.issue_id, edition.language)
        # an issue with no edition in `language` gives its default's, in its own language
        entry_lang = {XML_LANG: LANGUAGES[edition.language].html_lang} if edition.language != language else {}
        entries.append(_with(
            _element("entry", **entry_lang), _element("id", url), _element("title", edition.subject),
            _element("updated", _stamp(_updated(ws, issue))),
            _element("link", rel="alternate", type="text/html", href=url),
            _element("summary", edition.preheader or edition.subject)))
    newest = max((_updated(ws, issue) for issue in issues), default=datetime(1970, 1, 1, tzinfo=UTC))
    feed = _with(
        _element("feed", **{XML_LANG: LANGUAGES[language].html_lang}), _element("id", archive_url(ws, language)),
        _element("title", news.name), _element("updated", _stamp(newest)),
        _element("link", rel="self", type="application/atom+xml", href=archive_feed_url(ws, language)),
        _element("link", rel="alternate", type="text/html", href=archive_url(ws, language)),
        _with(_element("author"), _element("name", news.name)), *entries)
    ElementTree.register_namespace("", ATOM)
    ElementTree.indent(feed)
    return ElementTree.tostring(feed, encoding="utf-8", xml_declaration=True)
