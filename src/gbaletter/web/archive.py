"""The web archive: sent issues, each one's email as a public page, and their Atom feed.

Only issues with a send journal are shown: a draft or an issue built but never sent stays private.
The page is the copy of the build kept when the send started (`issue.published`; a rebuild
afterwards does not change it), with the subscriber placeholders filled with neutral values, so no
one's name or unsubscribe link can appear in it, and with a description and Open Graph / Twitter
card tags in its head (search results and shared links show the subject, the preheader and the
lead image). An issue sent before copies were kept shows its build.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import placeholders
from ..config import Workspace
from ..delivery.journal import has_journal
from ..delivery.models import Send
from ..links import archive_feed_url, subscribe_url, view_url
from ..errors import GbaletterError
from ..issue.ids import ISSUE_ID
from ..issue.published import SentCopy, read_sent_copy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchivedIssue:
    issue_id: str
    number: int
    subject: str
    date: date
    preheader: str = ""
    image: str = ""  # the lead image's address
    html_path: Path = Path()
    sent_at: datetime | None = None  # None for an issue sent before copies were kept


def _built_html(ws: Workspace, issue_id: str) -> Path:
    return ws.issue_dir(issue_id) / "build" / "email.html"


def _archived(ws: Workspace, issue_id: str) -> ArchivedIssue | None:
    """The sent copy of a sent issue, else (sent before copies were kept) its build; None when
    there is neither, or its manifest no longer loads (logged)."""
    copy: SentCopy | None = read_sent_copy(ws, issue_id)
    if copy is not None and copy.html_path.is_file():
        return ArchivedIssue(issue_id, copy.number, copy.subject, copy.date, copy.preheader,
                             copy.image, copy.html_path, copy.sent_at)
    if not _built_html(ws, issue_id).is_file():
        return None
    try:
        from ..issue.manifest import load_manifest  # the content parsers: only for issues sent before copies were kept

        manifest = load_manifest(ws, issue_id)
    except GbaletterError as exc:
        log.warning("archive: issue %s left out: %s", issue_id, exc)
        return None
    return ArchivedIssue(issue_id, manifest.number, manifest.subject, manifest.date,
                         manifest.preheader, "", _built_html(ws, issue_id))


def sent_issues(ws: Workspace, session: Session) -> list[ArchivedIssue]:
    """Sent issues that can be shown, newest first; one that cannot is left out rather than
    breaking the whole list."""
    found = (_archived(ws, issue_id) for issue_id in session.scalars(select(Send.issue_id).distinct()))
    issues = [issue for issue in found if issue is not None]
    return sorted(issues, key=lambda issue: (issue.date, issue.number), reverse=True)


def latest_issue(ws: Workspace, session: Session) -> str | None:
    issues = sent_issues(ws, session)
    return issues[0].issue_id if issues else None


def _neutral_values(ws: Workspace, issue_id: str) -> dict[str, str]:
    """What a reader of the archive sees in place of a subscriber's values."""
    return {"name": ws.config.newsletter.name_fallback, "email": "",
            "unsubscribe_url": subscribe_url(ws), "preferences_url": subscribe_url(ws),
            "view_url": view_url(ws, issue_id)}


def _head_tags(ws: Workspace, issue: ArchivedIssue) -> str:
    """The description, Open Graph and Twitter card tags, and the link to the feed."""
    escape = html.escape
    tags = [f'<meta name="description" content="{escape(issue.preheader or issue.subject)}">',
            '<meta property="og:type" content="article">',
            f'<meta property="og:site_name" content="{escape(ws.config.newsletter.name)}">',
            f'<meta property="og:title" content="{escape(issue.subject)}">',
            f'<meta property="og:description" content="{escape(issue.preheader)}">',
            f'<meta property="og:url" content="{escape(view_url(ws, issue.issue_id))}">',
            f'<meta name="twitter:card" content="{"summary_large_image" if issue.image else "summary"}">',
            f'<meta name="twitter:title" content="{escape(issue.subject)}">',
            f'<meta name="twitter:description" content="{escape(issue.preheader)}">',
            f'<link rel="canonical" href="{escape(view_url(ws, issue.issue_id))}">',
            f'<link rel="alternate" type="application/atom+xml" title="{escape(ws.config.newsletter.name)}" '
            f'href="{escape(archive_feed_url(ws))}">']
    if issue.image:
        tags += [f'<meta property="og:image" content="{escape(issue.image)}">',
                 f'<meta name="twitter:image" content="{escape(issue.image)}">']
    return "\n".join(tags) + "\n"


def archived_page(ws: Workspace, session: Session, issue_id: str) -> str | None:
    """The web version of a sent issue, or None when there is none to show."""
    if not ISSUE_ID.match(issue_id) or not has_journal(session, issue_id):
        return None
    issue = _archived(ws, issue_id)
    try:
        text = issue.html_path.read_text(encoding="utf-8") if issue else None
    except (OSError, UnicodeDecodeError):
        text = None
    if issue is None or text is None:
        return None
    values = _neutral_values(ws, issue_id)
    page = placeholders.PATTERN.sub(lambda match: html.escape(values[match.group(1)]), text)
    head_end = page.lower().find("</head>")
    return page if head_end < 0 else page[:head_end] + _head_tags(ws, issue) + page[head_end:]
