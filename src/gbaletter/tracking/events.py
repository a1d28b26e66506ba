"""The tracking events of an issue with their verdicts: frozen ones (the window closed) as stored,
the others computed now by `rules`, per delivery, with the journal's sent_at."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..delivery.models import Delivery
from .models import CLICK, TrackingEvent
from .rules import Hit, classify_clicks, classify_open


@dataclass(frozen=True)
class Classified:
    id: int
    kind: str
    link_id: str
    clicker: int
    at: datetime
    verdict: str  # rules.HUMAN, rules.MPP_FLAG or a machine reason


def classified_events(session: Session, issue_id: str) -> list[Classified]:
    rows = session.execute(
        select(TrackingEvent.id, TrackingEvent.kind, TrackingEvent.link_id, TrackingEvent.clicker,
               TrackingEvent.at, TrackingEvent.method, TrackingEvent.agent, TrackingEvent.verdict,
               Delivery.sent_at)
        .outerjoin(Delivery, Delivery.id == TrackingEvent.delivery_id)
        .where(TrackingEvent.issue_id == issue_id).order_by(TrackingEvent.at, TrackingEvent.id)).all()
    verdicts: dict[int, str] = {}
    clicks: dict[int, list] = defaultdict(list)
    for row in rows:
        if row.verdict is not None:
            verdicts[row.id] = row.verdict
        elif row.kind == CLICK:
            clicks[row.clicker].append(row)
        else:
            verdicts[row.id] = classify_open(Hit(row.at, "", row.method, row.agent))
    for group in clicks.values():
        hits = [Hit(row.at, row.link_id, row.method, row.agent) for row in group]
        for row, verdict in zip(group, classify_clicks(hits, group[0].sent_at), strict=True):
            verdicts[row.id] = verdict
    return [Classified(row.id, row.kind, row.link_id, row.clicker, row.at, verdicts[row.id]) for row in rows]
