"""The numbers of the reports, from the journal, the tracking events and the subscriber events.

Times come out in the workspace's time zone (`ws.tz`), as everything else the editors see; the
stories and links in the order the email shows them (`email_order`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..config import Workspace
from ..db import Database, utcnow
from ..delivery import journal
from ..delivery.models import IssueLink, Send, State
from ..errors import GbaletterError
from ..issue.links import SECTIONS
from ..issue.published import email_link_order
from ..subscribers.models import Status, Subscriber
from ..tracking.events import classified_events
from ..tracking.models import CLICK, OPEN
from ..tracking.retention import close_windows, window_end
from ..tracking.rules import HUMAN, MPP_FLAG
from .audience import active_over_time
from .feedback import later_feedback, unsubscribes

HOURS = 72
COMPLAINT_THRESHOLD = 0.003  # Gmail's bulk sender guidelines: keep spam complaints below 0.3 %


def rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass(frozen=True)
class Funnel:
    recipients: int          # frozen into the journal
    sent: int                # accepted by the SMTP server
    bounced_at_smtp: int     # refused by the SMTP server (journal: bounced)
    bounced_later: int       # bounce reports after acceptance
    complaints: int
    unsubscribes: dict[str, int]  # by kind (feedback.KINDS)

    @property
    def unsubscribed(self) -> int:
        return sum(self.unsubscribes.values())


@dataclass(frozen=True)
class Counted:
    """Clicks on one link or story: human and machine clicks, unique human clickers."""

    key: str
    section: str
    title: str
    url: str
    human: int
    machine: int
    unique_humans: int


@dataclass
class IssueReport:
    issue_id: str
    subject: str
    first_sent: datetime
    window_closes: datetime
    mode: str
    funnel: Funnel
    links: list[Counted]
    stories: list[Counted]
    unique_humans: int
    human_clicks: int
    machine_clicks: int
    machine_reasons: dict[str, int]
    hours: list[tuple[int, int]]            # (human, machine) clicks per hour since the first send
    opened_at_least: int                    # deliveries with a person's open or click
    mpp_opens: int                          # Apple MPP fetches, flagged and not counted
    opens_tracked: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def click_rate(self) -> float:
        return rate(self.unique_humans, self.funnel.sent)


def _funnel(session: Session, issue_id: str) -> Funnel:
    counts = journal.counts(session, issue_id)
    later, complaints = later_feedback(session, issue_id)
    return Funnel(sum(counts.values()), counts[State.SENT], counts[State.BOUNCED], later, complaints,
                  unsubscribes(session, issue_id))


def email_order(ws: Workspace, issue_id: str, links: list[IssueLink]) -> list[IssueLink]:
    """The links by section (featured, more, briefs, ...), in each the order of the link table
    as it was sent (the copy kept at the send; the build's for an issue sent before copies were
    kept): the email's, which is the manifest's. A link the table lacks goes after the others of
    its section, by title (the database's order is the ids', a hash)."""
    sections = {section: n for n, section in enumerate(SECTIONS)}
    position = {link_id: n for n, link_id in enumerate(email_link_order(ws, issue_id))}
    return sorted(links, key=lambda link: (sections.get(link.section, len(sections)),
                                           position.get(link.link_id, len(position)), link.title, link.url))


def issue_report(ws: Workspace, db: Database, issue_id: str, subject: str = "",
                 now: datetime | None = None) -> IssueReport:
    close_windows(ws, db, now)
    with db.reader() as session:
        first_sent = session.scalar(select(func.min(Send.started_at)).where(Send.issue_id == issue_id))
        if first_sent is None:
            raise GbaletterError(f"issue {issue_id} has not been sent yet: nothing to report")
        funnel = _funnel(session, issue_id)
        links = list(session.scalars(select(IssueLink).where(IssueLink.issue_id == issue_id)))
        events = classified_events(session, issue_id)
    clicks = [e for e in events if e.kind == CLICK]
    human = [e for e in clicks if e.verdict == HUMAN]
    by_link_human = Counter(e.link_id for e in human)
    by_link_machine = Counter(e.link_id for e in clicks if e.verdict != HUMAN)
    clickers_by_link: dict[str, set[int]] = defaultdict(set)
    for e in human:
        clickers_by_link[e.link_id].add(e.clicker)
    links = email_order(ws, issue_id, links)
    link_rows = [Counted(link.link_id, link.section, link.title or link.url, link.url,
                         by_link_human[link.link_id], by_link_machine[link.link_id],
                         len(clickers_by_link[link.link_id])) for link in links]
    stories: dict[tuple[str, str], list] = {}
    for link in links:
        stories.setdefault((link.section, link.story or link.url), []).append(link)
    story_rows = []
    for (section, key), members in stories.items():
        ids = [m.link_id for m in members]
        story_rows.append(Counted(key, section, members[0].title or members[0].url, members[0].url,
                                  sum(by_link_human[i] for i in ids), sum(by_link_machine[i] for i in ids),
                                  len(set().union(*(clickers_by_link[i] for i in ids)))))
    hours = [[0, 0] for _ in range(HOURS)]
    for e in clicks:
        hour = int((e.at - first_sent).total_seconds() // 3600)
        if 0 <= hour < HOURS:
            hours[hour][e.verdict != HUMAN] += 1
    opens = [e for e in events if e.kind == OPEN]
    opened = {e.clicker for e in opens if e.verdict == HUMAN} | {e.clicker for e in human}
    return IssueReport(
        issue_id=issue_id, subject=subject, first_sent=first_sent.astimezone(ws.tz),
        window_closes=window_end(ws, first_sent).astimezone(ws.tz), mode=ws.config.tracking.mode, funnel=funnel,
        links=link_rows, stories=story_rows, unique_humans=len({e.clicker for e in human}),
        human_clicks=len(human), machine_clicks=len(clicks) - len(human),
        machine_reasons=dict(Counter(e.verdict for e in clicks if e.verdict != HUMAN)),
        hours=[(h, m) for h, m in hours], opened_at_least=len(opened),
        mpp_opens=sum(1 for e in opens if e.verdict == MPP_FLAG),
        opens_tracked=ws.config.tracking.opens)


@dataclass(frozen=True)
class IssueRates:
    issue_id: str
    first_sent: datetime
    recipients: int
    funnel: Funnel

    @property
    def bounce_rate(self) -> float:
        return rate(self.funnel.bounced_at_smtp + self.funnel.bounced_later, self.funnel.recipients)

    @property
    def complaint_rate(self) -> float:
        return rate(self.funnel.complaints, self.funnel.sent)

    @property
    def unsubscribe_rate(self) -> float:
        return rate(self.funnel.unsubscribed, self.funnel.sent)

    @property
    def over_complaint_threshold(self) -> bool:
        return self.complaint_rate >= COMPLAINT_THRESHOLD


@dataclass(frozen=True)
class ListReport:
    issues: list[IssueRates]
    active_now: int
    made_at: datetime
    active: list[tuple[datetime, int]]  # active subscribers over time (audience.active_over_time)


def list_report(ws: Workspace, db: Database, now: datetime | None = None) -> ListReport:
    """Every sent issue in the order it was first sent, and the list's size over time."""
    now = now or utcnow()
    with db.reader() as session:
        sends = session.execute(select(Send.issue_id, func.min(Send.started_at))
                                .group_by(Send.issue_id).order_by(func.min(Send.started_at))).all()
        issues = [IssueRates(issue_id, started.astimezone(ws.tz), (f := _funnel(session, issue_id)).recipients, f)
                  for issue_id, started in sends]
        active_now = session.scalar(select(func.count()).select_from(Subscriber)
                                    .where(Subscriber.status == Status.ACTIVE)) or 0
        active = active_over_time(session, now, ws.tz)
    return ListReport(issues, active_now, now.astimezone(ws.tz), active)
