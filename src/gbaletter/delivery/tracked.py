"""Tracked links at send time: the bodies with their links rewritten (once per issue), the token
each recipient's links carry, and the issue's link table kept in the database for the redirects.

With `[tracking] clicks = "off"`, and for test copies (there is no delivery to count), the bodies
go out as built, with the original URLs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Workspace
from ..issue.recorded import BuildFiles
from ..issue.links import read_links, track
from ..links import delivery_tokens
from ..tokens import Signer
from .models import IssueLink


@dataclass(frozen=True)
class Bodies:
    html: str
    text: str
    click_token: Callable[[int], str] | None  # the token of a journal row; None: nothing to fill in


def tracking_on(ws: Workspace) -> bool:
    return ws.config.tracking.clicks == "on"


def bodies(ws: Workspace, issue_id: str, signer: Signer, built: BuildFiles, test: bool = False) -> Bodies:
    """The build's HTML and text, tracked unless tracking is off or this is a test copy."""
    if test or not tracking_on(ws):
        return Bodies(built.html, built.text, None)
    html, text = track(ws, read_links(built.folder), built.html, built.text, opens=ws.config.tracking.opens)
    return Bodies(html, text, delivery_tokens(signer, issue_id))


def remember_links(session: Session, ws: Workspace, issue_id: str) -> int:
    """Copy the build's link table into `issue_links` (new ids only: a resumed or widened send
    keeps the rows earlier messages point to). Returns how many were added."""
    if not tracking_on(ws):
        return 0
    known = set(session.scalars(select(IssueLink.link_id).where(IssueLink.issue_id == issue_id)))
    added = [IssueLink(issue_id=issue_id, link_id=link.id, url=link.url, section=link.section,
                       story=link.story, title=link.title)
             for link in read_links(ws.issue_dir(issue_id) / "build") if link.id not in known]
    session.add_all(added)
    return len(added)
