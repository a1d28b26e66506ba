"""The reports as rich tables for the terminal (the CLI prints them)."""

from __future__ import annotations

from datetime import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .feedback import KINDS
from .funnel import COMPLAINT_THRESHOLD, Funnel
from .numbers import IssueReport, ListReport


def _percent(value: float, decimals: int = 1) -> str:
    return f"{value * 100:.{decimals}f} %"


def _moment(when: datetime) -> str:
    """A time as the report shows it: in the workspace's zone (the report's datetimes are), named."""
    return f"{when:%Y-%m-%d %H:%M %Z}"


def issue_tables(report: IssueReport) -> Group:
    f = report.funnel
    funnel = Table(title=f"issue {report.issue_id}: funnel", box=None, pad_edge=False, show_header=False)
    funnel.add_column("step")
    funnel.add_column("messages", justify="right")
    rows = [("recipients", f.recipients), ("sent", f.sent), ("bounced at SMTP", f.bounced_at_smtp),
            ("bounced later", f.bounced_later), ("complaints", f.complaints),
            *((f"unsubscribed ({kind})", f.unsubscribes[kind]) for kind in KINDS)]
    funnel.add_row("first sent", _moment(report.first_sent))
    for label, number in rows:
        funnel.add_row(label, str(number))
    if report.opens_tracked:
        funnel.add_row("opened, at least", f"{report.opened_at_least} (+{report.mpp_opens} Apple MPP, not counted)")
    funnel.add_row("people who clicked", f"{report.unique_humans} ({_percent(report.click_rate)})")
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.machine_reasons.items()))
    funnel.add_row("clicks: people / machines",
                   f"{report.human_clicks} / {report.machine_clicks}" + (f" ({reasons})" if reasons else ""))
    editions = [e.edition for e in report.editions]
    stories = Table(title="stories", box=None, pad_edge=False)
    for column, justify in (("section", "left"), ("story", "left"), ("people", "right"),
                            ("rate", "right"), ("machine clicks", "right"), *((e, "right") for e in editions)):
        stories.add_column(column, justify=justify)  # type: ignore[arg-type]
    for s in report.stories:
        stories.add_row(s.section, s.title, str(s.unique_humans),
                        _percent(s.unique_humans / f.sent if f.sent else 0), str(s.machine),
                        *(str(s.by_edition[e]) for e in editions))
    links = Table(title="links", box=None, pad_edge=False)
    for column, justify in (("id", "left"), ("section", "left"), ("url", "left"), ("people", "right"),
                            ("clicks", "right"), ("machines", "right")):
        links.add_column(column, justify=justify)  # type: ignore[arg-type]
    for link in report.links:
        links.add_row(link.key, link.section, link.url, str(link.unique_humans), str(link.human), str(link.machine))
    day = [sum(h for h, _ in report.hours[start:start + 24]) for start in (0, 24, 48)]
    timeline = Text(f"clicks by people, first three days: {day[0]} / {day[1]} / {day[2]}")
    by_edition = (Text(""), edition_table(report)) if report.editions else ()
    return Group(funnel, *by_edition, Text(""), stories, Text(""), links, Text(""), timeline)


def edition_table(report: IssueReport) -> Table:
    """The funnel and clicks of each edition, side by side (an issue sent in several)."""
    table = Table(title="by edition", box=None, pad_edge=False)
    table.add_column("")
    for figures in report.editions:
        table.add_column(figures.edition, justify="right")
    for label, values in report.edition_rows():
        table.add_row(label, *(_percent(v) if label == "click rate" else str(v) for v in values))
    return table


def list_table(report: ListReport) -> Table:
    table = Table(title=f"the list across issues ({report.active_now} active on {_moment(report.made_at)})",
                  box=None, pad_edge=False)
    for column, justify in (("issue", "left"), ("first sent", "left"), ("recipients", "right"),
                            ("bounces", "right"), ("complaints", "right"), ("unsubscribes", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for issue in report.issues:
        table.add_row(issue.issue_id, _moment(issue.first_sent), *_rates(issue.funnel))
        for edition, funnel in issue.editions.items():
            table.add_row(f"  {edition}", "", *_rates(funnel))
    return table


def _rates(funnel: Funnel) -> tuple[str, ...]:
    complaints = _percent(funnel.complaint_rate, 2)
    if funnel.over_complaint_threshold:
        complaints = f"[bold red]{complaints} over {_percent(COMPLAINT_THRESHOLD)}[/]"
    return (str(funnel.recipients), _percent(funnel.bounce_rate, 2), complaints,
            _percent(funnel.unsubscribe_rate, 2))
