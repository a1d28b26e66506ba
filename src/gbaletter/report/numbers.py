"""The numbers of the reports, from the journal, the tracking events and the subscriber events.

Times come out in the workspace's time zone (`ws.tz`), as everything else the editors see; the
stories and links in the order the email shows them (`email_order`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from ..config import Workspace
from ..db import Database, utcnow
from ..delivery.journal import edition_of
from ..delivery.models import IssueLink, Send
from ..errors import GbaletterError
from ..issue.links import SECTIONS
from ..issue.published import email_link_order
from ..subscribers.models import Status, Subscriber
from ..tracking.events import Classified, classified_events
from ..tracking.models import CLICK, OPEN
from ..tracking.retention import close_windows, window_end
from ..tracking.rules import HUMAN, MPP_FLAG
from .audience import active_over_time
from .funnel import Funnel, funnels, rate

HOURS = 72


@dataclass(frozen=True)
class Counted:
    """Clicks on one link or story: human and machine clicks, unique human clickers, and those
    by edition (empty for an issue sent in one edition)."""

    key: str
    section: str
    title: str
    url: str
    human: int
    machine: int
    unique_humans: int
    by_edition: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class EditionFigures:
    """One edition of an issue sent in several: its funnel and what its readers did."""

    edition: str
    funnel: Funnel
    unique_humans: int       # people who clicked
    human_clicks: int
    machine_clicks: int
    opened_at_least: int     # deliveries with a person's open or click
    click_rate: float        # unique_humans of the edition's messages sent
    hours: list[int]         # clicks by people per hour since the first send (the issue's `hours`, this edition's part)


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
    editions: list[EditionFigures] = field(default_factory=list)  # none for an issue sent in one edition
    notes: list[str] = field(default_factory=list)

    @property
    def click_rate(self) -> float:
        return rate(self.unique_humans, self.funnel.sent)

    def edition_rows(self) -> list[tuple[str, list[float]]]:
        """(figure, its value in each edition): the by-edition table of the terminal and the page."""
        funnels = [e.funnel for e in self.editions]
        rows: list[tuple[str, list[float]]] = [
            ("recipients", [f.recipients for f in funnels]), ("sent", [f.sent for f in funnels]),
            ("bounced", [f.bounced_at_smtp + f.bounced_later for f in funnels]),
            ("complaints", [f.complaints for f in funnels]), ("unsubscribed", [f.unsubscribed for f in funnels])]
        if self.opens_tracked:
            rows.append(("opened, at least", [e.opened_at_least for e in self.editions]))
        return [*rows, ("people who clicked", [e.unique_humans for e in self.editions]),
                ("click rate", [e.click_rate for e in self.editions])]


def email_order(ws: Workspace, issue_id: str, links: list[IssueLink]) -> list[IssueLink]:
    """The links by section (featured, more, briefs, ...), in each the order of the link table
    as it was sent (the copy kept at the send; the build's for an issue sent before copies were
    kept): the email's, which is the manifest's. A link the table lacks goes after the others of
    its section, by title (the database's order is the ids', a hash)."""
    sections = {section: n for n, section in enumerate(SECTIONS)}
    position = {link_id: n for n, link_id in enumerate(email_link_order(ws, issue_id))}
    return sorted(links, key=lambda link: (sections.get(link.section, len(sections)),
                                           position.get(link.link_id, len(position)), link.title, link.url))


class _Tally:
    """The clicks of an issue per link: by people and machines, and who the people were (each
    with the edition of their message, `journal.edition_of`)."""

    def __init__(self, clicks: list[Classified], editions: list[str]) -> None:
        self.editions = editions
        self.human: Counter[str] = Counter()
        self.machine: Counter[str] = Counter()
        self.clickers: dict[str, set[tuple[str, int]]] = defaultdict(set)
        for e in clicks:
            if e.verdict == HUMAN:
                self.human[e.link_id] += 1
                self.clickers[e.link_id].add((edition_of(e.edition), e.clicker))
            else:
                self.machine[e.link_id] += 1

    def counted(self, key: str, section: str, title: str, url: str, ids: list[str]) -> Counted:
        clickers: set[tuple[str, int]] = set().union(*(self.clickers[i] for i in ids))
        by_edition = Counter(edition for edition, _ in clickers)
        return Counted(key, section, title, url, sum(self.human[i] for i in ids), sum(self.machine[i] for i in ids),
                       len({clicker for _, clicker in clickers}),
                       {edition: by_edition[edition] for edition in self.editions})


def _link_rows(links: list[IssueLink], tally: _Tally) -> tuple[list[Counted], list[Counted]]:
    """(a row per link, a row per story) in the email's order: a story's links are those the link
    table attributes to it in any edition (a translation's own URL too), its title the first's."""
    link_rows = [tally.counted(link.link_id, link.section, link.title or link.url, link.url, [link.link_id])
                 for link in links]
    stories: dict[tuple[str, str], list[IssueLink]] = {}
    for link in links:
        stories.setdefault((link.section, link.story or link.url), []).append(link)
    story_rows = [tally.counted(key, section, members[0].title or members[0].url, members[0].url,
                                [m.link_id for m in members]) for (section, key), members in stories.items()]
    return link_rows, story_rows


def _opened(events: list[Classified]) -> set[tuple[str, int]]:
    """(edition, clicker) of each message a person opened or clicked in (an open or a click the
    rules call a person's)."""
    return {(edition_of(e.edition), e.clicker) for e in events if e.verdict == HUMAN}


def _per_hour(events: Iterable[Classified], first_sent: datetime) -> list[int]:
    """How many of `events` happened in each of the first HOURS hours after `first_sent`."""
    counts = [0] * HOURS
    for e in events:
        hour = int((e.at - first_sent).total_seconds() // 3600)
        if 0 <= hour < HOURS:
            counts[hour] += 1
    return counts


def _edition_figures(by_edition: dict[str, Funnel], human: list[Classified], machine: list[Classified],
                     opened: set[tuple[str, int]], first_sent: datetime) -> list[EditionFigures]:
    """Each edition's funnel, clicks and opens, from the issue's clicks by people (`human`) and by
    `machine`s and the messages `opened` (`_opened`); none for an issue sent in one edition."""
    if len(by_edition) < 2:
        return []
    people = Counter(edition for edition, _ in {(edition_of(e.edition), e.clicker) for e in human})
    human_clicks = Counter(edition_of(e.edition) for e in human)
    machine_clicks = Counter(edition_of(e.edition) for e in machine)
    opened_by = Counter(edition for edition, _ in opened)
    return [EditionFigures(edition, funnel, people[edition], human_clicks[edition], machine_clicks[edition],
                           opened_by[edition], rate(people[edition], funnel.sent),
                           _per_hour((e for e in human if edition_of(e.edition) == edition), first_sent))
            for edition, funnel in by_edition.items()]


def issue_report(ws: Workspace, db: Database, issue_id: str, subject: str = "",
                 now: datetime | None = None) -> IssueReport:
    close_windows(ws, db, now)
    with db.reader() as session:
        first_sent = session.scalar(select(func.min(Send.started_at)).where(Send.issue_id == issue_id))
        if first_sent is None:
            raise GbaletterError(f"issue {issue_id} has not been sent yet: nothing to report")
        funnel, by_edition = funnels(session, issue_id, ws.config.newsletter.languages)
        links = list(session.scalars(select(IssueLink).where(IssueLink.issue_id == issue_id)))
        events = classified_events(session, issue_id)
    clicks = [e for e in events if e.kind == CLICK]
    human = [e for e in clicks if e.verdict == HUMAN]
    machine = [e for e in clicks if e.verdict != HUMAN]
    opened = _opened(events)
    editions = _edition_figures(by_edition, human, machine, opened, first_sent)
    link_rows, story_rows = _link_rows(email_order(ws, issue_id, links),
                                       _Tally(clicks, [figures.edition for figures in editions]))
    return IssueReport(
        issue_id=issue_id, subject=subject, first_sent=first_sent.astimezone(ws.tz),
        window_closes=window_end(ws, first_sent).astimezone(ws.tz), mode=ws.config.tracking.mode, funnel=funnel,
        links=link_rows, stories=story_rows, unique_humans=len({e.clicker for e in human}),
        human_clicks=len(human), machine_clicks=len(machine), machine_reasons=dict(Counter(e.verdict for e in machine)),
        hours=list(zip(_per_hour(human, first_sent), _per_hour(machine, first_sent), strict=True)),
        opened_at_least=len(opened),
        mpp_opens=sum(1 for e in events if e.kind == OPEN and e.verdict == MPP_FLAG),
        opens_tracked=ws.config.tracking.opens, editions=editions)


@dataclass(frozen=True)
class IssueRates:
    """An issue's funnel (its counts and rates), and each edition's when it was sent in several."""

    issue_id: str
    first_sent: datetime
    funnel: Funnel
    editions: dict[str, Funnel] = field(default_factory=dict)


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
        issues = []
        for issue_id, started in sends:
            funnel, by_edition = funnels(session, issue_id, ws.config.newsletter.languages)
            issues.append(IssueRates(issue_id, started.astimezone(ws.tz), funnel,
                                     by_edition if len(by_edition) > 1 else {}))
        active_now = session.scalar(select(func.count()).select_from(Subscriber)
                                    .where(Subscriber.status == Status.ACTIVE)) or 0
        active = active_over_time(session, now, ws.tz)
    return ListReport(issues, active_now, now.astimezone(ws.tz), active)
