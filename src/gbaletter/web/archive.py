"""The web archive: sent issues, each edition's email as a public page, and their Atom feed.

Only issues with a send journal are shown: a draft or an issue built but never sent stays private.
The page is the copy of the build kept when the send started (`issue.published`; a rebuild
afterwards does not change it), with the subscriber placeholders filled with neutral values, so no
one's name or unsubscribe link can appear in it, and with a description and Open Graph / Twitter
card tags in its head (search results and shared links show the subject, the preheader and the
lead image). An issue sent before copies were kept shows its build.

An issue sent in several languages has a page per edition (`/archive/<id>` the default language's,
`/archive/<id>/zh-Hant` another's; `links.view_url`), each naming all of them as `hreflang`
alternates, the default as `x-default` (docs/editions.md, "The archive").
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
from ..links import archive_feed_url, edition_path, subscribe_url, view_url
from ..errors import GbaletterError
from ..issue.ids import ISSUE_ID
from ..issue.published import SentCopy, read_sent_copy
from ..issue.recorded import read_info, recorded_name_fallback
from ..languages import LANGUAGES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchivedEdition:
    """One edition's page: its language (an issue with one email: the desk's default), subject,
    preheader, file and the greeting's word for a reader without a name (the one the send used)."""

    language: str
    subject: str
    preheader: str
    html_path: Path
    name_fallback: str


@dataclass(frozen=True)
class ArchivedIssue:
    issue_id: str
    number: int
    date: date
    editions: tuple[ArchivedEdition, ...]  # the default language's first
    image: str = ""  # the lead image's address
    sent_at: datetime | None = None  # None for an issue sent before copies were kept

    def edition(self, language: str) -> ArchivedEdition:
        """The edition in `language`; the default's when the issue has none in it."""
        return next((edition for edition in self.editions if edition.language == language), self.editions[0])

    @property
    def subject(self) -> str:
        return self.editions[0].subject


def _built_html(ws: Workspace, issue_id: str) -> Path:
    return ws.issue_dir(issue_id) / "build" / "email.html"


def _archived(ws: Workspace, issue_id: str) -> ArchivedIssue | None:
    """The sent copy of a sent issue, else (sent before copies were kept) its build; None when
    there is neither, or its manifest no longer loads (logged)."""
    copy: SentCopy | None = read_sent_copy(ws, issue_id)
    if copy is not None and copy.html_path.is_file():
        editions = tuple(ArchivedEdition(edition.language, edition.subject, edition.preheader,
                                         copy.folder / edition.file, edition.name_fallback)
                         for edition in copy.editions)
        return ArchivedIssue(issue_id, copy.number, copy.date, editions or (
            ArchivedEdition(ws.config.newsletter.language, copy.subject, copy.preheader, copy.html_path,
                            copy.name_fallback),), copy.image, copy.sent_at)
    if not _built_html(ws, issue_id).is_file():
        return None
    try:
        from ..issue.manifest import load_manifest  # the content parsers: only for issues sent before copies were kept

        manifest = load_manifest(ws, issue_id)
    except GbaletterError as exc:
        log.warning("archive: issue %s left out: %s", issue_id, exc)
        return None
    built = read_info(_built_html(ws, issue_id).parent) or {}
    return ArchivedIssue(issue_id, manifest.number, manifest.date,
                         (ArchivedEdition(ws.config.newsletter.language, manifest.subject, manifest.preheader,
                                          _built_html(ws, issue_id),
                                          recorded_name_fallback(built, "", ws.config.newsletter.name_fallback)),))


def sent_issues(ws: Workspace, session: Session) -> list[ArchivedIssue]:
    """Sent issues that can be shown, newest first; one that cannot is left out rather than
    breaking the whole list."""
    found = (_archived(ws, issue_id) for issue_id in session.scalars(select(Send.issue_id).distinct()))
    issues = [issue for issue in found if issue is not None]
    return sorted(issues, key=lambda issue: (issue.date, issue.number), reverse=True)


@dataclass(frozen=True)
class Listed:
    """An issue in the list of past issues: the edition of the page's language, where it is."""

    path: str  # after the app's root: archive/2019-W27/zh-Hant
    subject: str
    date: date
    lang: str  # the edition's `lang` where it is not the page's language (none in it), else ""


def listing(ws: Workspace, issues: list[ArchivedIssue], language: str) -> list[Listed]:
    """The list of past issues on a page in `language`: each issue's edition in it, else its default."""
    listed = []
    for issue in issues:
        edition = issue.edition(language)
        listed.append(Listed(f"archive/{issue.issue_id}{edition_path(ws, edition.language)}", edition.subject,
                             issue.date, LANGUAGES[edition.language].html_lang if edition.language != language else ""))
    return listed


def latest_issue(ws: Workspace, session: Session) -> ArchivedIssue | None:
    issues = sent_issues(ws, session)
    return issues[0] if issues else None


def sent_issue(ws: Workspace, session: Session, issue_id: str) -> ArchivedIssue | None:
    """The sent issue `issue_id` as the archive shows it; None for a draft or an unknown id."""
    if not ISSUE_ID.match(issue_id) or not has_journal(session, issue_id):
        return None
    return _archived(ws, issue_id)


def _neutral_values(ws: Workspace, issue_id: str, edition: ArchivedEdition) -> dict[str, str]:
    """What a reader of the archive sees in place of a subscriber's values (the form and this
    page in the edition's language)."""
    language = edition.language
    return {"name": edition.name_fallback, "email": "",
            "unsubscribe_url": subscribe_url(ws, language), "preferences_url": subscribe_url(ws, language),
            "view_url": view_url(ws, issue_id, language)}


def _alternates(ws: Workspace, issue: ArchivedIssue) -> list[str]:
    """`hreflang` links to every edition of an issue sent in several languages, and `x-default`
    (the default language's); none for an issue with one email."""
    if len(issue.editions) < 2:
        return []
    escape = html.escape
    return [*(f'<link rel="alternate" hreflang="{LANGUAGES[edition.language].html_lang}" '
              f'href="{escape(view_url(ws, issue.issue_id, edition.language))}">' for edition in issue.editions),
            f'<link rel="alternate" hreflang="x-default" href="{escape(view_url(ws, issue.issue_id))}">']


def _head_tags(ws: Workspace, issue: ArchivedIssue, edition: ArchivedEdition) -> str:
    """The description, Open Graph and Twitter card tags, the editions and the link to the feed."""
    escape = html.escape
    url = escape(view_url(ws, issue.issue_id, edition.language))
    subject, preheader = escape(edition.subject), escape(edition.preheader)
    tags = [f'<meta name="description" content="{preheader or subject}">',
            '<meta property="og:type" content="article">',
            f'<meta property="og:site_name" content="{escape(ws.config.newsletter.name)}">',
            f'<meta property="og:title" content="{subject}">',
            f'<meta property="og:description" content="{preheader}">',
            f'<meta property="og:url" content="{url}">',
            f'<meta name="twitter:card" content="{"summary_large_image" if issue.image else "summary"}">',
            f'<meta name="twitter:title" content="{subject}">',
            f'<meta name="twitter:description" content="{preheader}">',
            f'<link rel="canonical" href="{url}">', *_alternates(ws, issue),
            f'<link rel="alternate" type="application/atom+xml" title="{escape(ws.config.newsletter.name)}" '
            f'href="{escape(archive_feed_url(ws, edition.language))}">']
    if issue.image:
        tags += [f'<meta property="og:image" content="{escape(issue.image)}">',
                 f'<meta name="twitter:image" content="{escape(issue.image)}">']
    return "\n".join(tags) + "\n"


def archived_page(ws: Workspace, issue: ArchivedIssue, edition: ArchivedEdition) -> str | None:
    """The web version of an edition of a sent issue, or None when its file cannot be read."""
    try:
        text = edition.html_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    values = _neutral_values(ws, issue.issue_id, edition)
    page = placeholders.PATTERN.sub(lambda match: html.escape(values[match.group(1)]), text)
    head_end = page.lower().find("</head>")
    return page if head_end < 0 else page[:head_end] + _head_tags(ws, issue, edition) + page[head_end:]
