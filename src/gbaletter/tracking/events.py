"""Tracking events with their verdicts: frozen ones (the window closed) as stored, the others
computed now by `rules`, per delivery, with the journal's sent_at. For an issue's report, and
for one subscriber's click history (per-subscriber mode only)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from ..config import Workspace
from ..delivery.models import Delivery, IssueLink
from .models import CLICK, TrackingEvent
from .rules import Hit, classify_clicks, classify_open


@dataclass(frozen=True)
class Classified:
    id: int
    issue_id: str
    kind: str
    link_id: str
    clicker: int
    at: datetime
    verdict: str  # rules.HUMAN, rules.MPP_FLAG or a machine reason
    edition: str | None  # its journal row's (deliveries.edition), kept when the window closed; None: unknown


def classified_events(session: Session, issue_id: str) -> list[Classified]:
    """Every event of the issue, in time order."""
    return _classified(session, TrackingEvent.issue_id == issue_id)


@dataclass(frozen=True)
class SeenClick:
    """One click of a subscriber's history: what they clicked, in which issue, and the verdict."""

    issue_id: str
    at: datetime
    url: str
    title: str
    verdict: str


def subscriber_clicks(ws: Workspace, session: Session, subscriber_id: int) -> list[SeenClick] | None:
    """The subscriber's clicks, oldest first; None unless `[tracking] mode = "per-subscriber"`.

    In the default mode the ids tie a click to a subscriber only while the reporting window is
    open, for the rules and for erasure; nobody is shown who clicked what (docs/tracking.md).
    The verdicts need no other subscriber's events: the rules look at one delivery at a time.
    """
    if ws.config.tracking.mode != "per-subscriber":
        return None
    events = _classified(session, and_(TrackingEvent.subscriber_id == subscriber_id, TrackingEvent.kind == CLICK))
    links = {(link.issue_id, link.link_id): (link.url, link.title) for link in session.scalars(
        select(IssueLink).where(IssueLink.issue_id.in_({event.issue_id for event in events})))}
    return [SeenClick(event.issue_id, event.at, *links.get((event.issue_id, event.link_id), ("", "")),
                      event.verdict) for event in events]


def _classified(session: Session, which: ColumnElement[bool]) -> list[Classified]:
    rows = session.execute(
        select(TrackingEvent.id, TrackingEvent.issue_id, TrackingEvent.kind, TrackingEvent.link_id,
               TrackingEvent.clicker, TrackingEvent.at, TrackingEvent.method, TrackingEvent.agent,
               TrackingEvent.verdict, Delivery.sent_at,
               func.coalesce(Delivery.edition, TrackingEvent.edition).label("edition"))
        .outerjoin(Delivery, Delivery.id == TrackingEvent.delivery_id)
        .where(which).order_by(TrackingEvent.at, TrackingEvent.id)).all()
    verdicts: dict[int, str] = {}
    clicks: dict[tuple[str, int], list] = defaultdict(list)
    for row in rows:
        if row.verdict is not None:
            verdicts[row.id] = row.verdict
        elif row.kind == CLICK:
            clicks[row.issue_id, row.clicker].append(row)
        else:
            verdicts[row.id] = classify_open(Hit(row.at, "", row.method, row.agent))
    for group in clicks.values():
        hits = [Hit(row.at, row.link_id, row.method, row.agent) for row in group]
        for row, verdict in zip(group, classify_clicks(hits, group[0].sent_at), strict=True):
            verdicts[row.id] = verdict
    return [Classified(row.id, row.issue_id, row.kind, row.link_id, row.clicker, row.at, verdicts[row.id],
                       row.edition) for row in rows]
