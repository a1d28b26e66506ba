"""The Atom feed of past issues (RFC 4287): one entry per sent issue, newest first, for feed
readers and for readers who prefer them to email."""

from __future__ import annotations

from datetime import UTC, datetime, time

from lxml import etree
from lxml.builder import ElementMaker

from ..config import Workspace
from ..links import archive_feed_url, archive_url, view_url
from .archive import ArchivedIssue

ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 50
_E = ElementMaker(namespace=ATOM, nsmap={None: ATOM})


def _updated(ws: Workspace, issue: ArchivedIssue) -> datetime:
    """When the send started; for an issue sent before that was kept, the issue's date."""
    return issue.sent_at or datetime.combine(issue.date, time(), tzinfo=ws.tz).astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atom_feed(ws: Workspace, issues: list[ArchivedIssue]) -> bytes:
    """The feed of `issues` (newest first, as `archive.sent_issues` gives them)."""
    news = ws.config.newsletter
    entries = []
    for issue in issues[:MAX_ENTRIES]:
        url = view_url(ws, issue.issue_id)
        entries.append(_E.entry(
            _E.id(url), _E.title(issue.subject), _E.updated(_stamp(_updated(ws, issue))),
            _E.link(rel="alternate", type="text/html", href=url),
            _E.summary(issue.preheader or issue.subject)))
    newest = max((_updated(ws, issue) for issue in issues), default=datetime(1970, 1, 1, tzinfo=UTC))
    feed = _E.feed(
        _E.id(archive_url(ws)), _E.title(news.name), _E.updated(_stamp(newest)),
        _E.link(rel="self", type="application/atom+xml", href=archive_feed_url(ws)),
        _E.link(rel="alternate", type="text/html", href=archive_url(ws)),
        _E.author(_E.name(news.name)), *entries)
    feed.set("{http://www.w3.org/XML/1998/namespace}lang", news.language)
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)
