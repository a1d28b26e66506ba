"""The web archive: sent issues, and each one's built email as a public page.

Only issues with a send journal are shown: a draft or an issue built but never sent stays private.
The page is the very HTML the subscribers got, with the subscriber placeholders filled with neutral
values, so no one's name or unsubscribe link can appear in it.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import placeholders
from ..config import Workspace
from ..delivery.journal import has_journal
from ..delivery.models import Send
from ..links import subscribe_url, view_url
from ..errors import GbaletterError
from ..issue.manifest import ISSUE_ID, load_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchivedIssue:
    issue_id: str
    number: int
    subject: str
    date: date


def _built_html(ws: Workspace, issue_id: str) -> Path:
    return ws.issue_dir(issue_id) / "build" / "email.html"


def sent_issues(ws: Workspace, session: Session) -> list[ArchivedIssue]:
    """Sent issues that have a build, newest first; one whose manifest no longer loads is logged
    and left out rather than breaking the whole list."""
    issues = []
    for issue_id in session.scalars(select(Send.issue_id).distinct()):
        if not _built_html(ws, issue_id).is_file():
            continue
        try:
            manifest = load_manifest(ws, issue_id)
        except GbaletterError as exc:
            log.warning("archive: issue %s left out: %s", issue_id, exc)
            continue
        issues.append(ArchivedIssue(issue_id, manifest.number, manifest.subject, manifest.date))
    return sorted(issues, key=lambda issue: (issue.date, issue.number), reverse=True)


def _neutral_values(ws: Workspace, issue_id: str) -> dict[str, str]:
    """What a reader of the archive sees in place of a subscriber's values."""
    return {"name": ws.config.newsletter.name_fallback, "email": "",
            "unsubscribe_url": subscribe_url(ws), "preferences_url": subscribe_url(ws),
            "view_url": view_url(ws, issue_id)}


def archived_page(ws: Workspace, session: Session, issue_id: str) -> str | None:
    """The web version of a sent issue, or None when there is none to show."""
    if not ISSUE_ID.match(issue_id) or not has_journal(session, issue_id):
        return None
    try:
        text = _built_html(ws, issue_id).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    values = _neutral_values(ws, issue_id)
    return placeholders.PATTERN.sub(lambda match: html.escape(values[match.group(1)]), text)
