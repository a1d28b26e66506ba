"""The reports as self-contained HTML pages: no script, no font or style from elsewhere, the charts
inline as SVG. `issues/<ID>/report.html` for an issue, `issues/report.html` across issues."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from markupsafe import Markup

from ..config import Workspace
from ..fsutil import write_atomic
from ..issue.render import template_environment
from . import charts
from .feedback import KINDS
from .funnel import COMPLAINT_THRESHOLD
from .numbers import IssueReport, ListReport

ISSUE_TEMPLATE = "report/issue.html.j2"
LIST_TEMPLATE = "report/list.html.j2"


def _chart(draw: Callable[..., str], *numbers: Any) -> Markup:
    """The chart wide and narrow; the page's style shows the one that suits the screen."""
    return Markup(draw(*numbers) + draw(*numbers, narrow=True))


def issue_page(ws: Workspace, report: IssueReport) -> str:
    """The issue's page; for an issue sent in several editions the people in both charts are
    split by edition, as the tables are."""
    stories = report.stories
    editions = [e.edition for e in report.editions]
    context = {
        "newsletter": ws.config.newsletter, "report": report, "kinds": KINDS,
        "story_chart": _chart(charts.clicks_by_story, [s.title for s in stories],
                              [s.unique_humans for s in stories], [s.machine for s in stories],
                              {e: [s.by_edition[e] for s in stories] for e in editions}) if stories else "",
        "time_chart": _chart(charts.clicks_over_time, [h for h, _ in report.hours], [m for _, m in report.hours],
                             report.first_sent, {e.edition: e.hours for e in report.editions}),
    }
    return template_environment(ws.templates_dir, cache_dir=ws.cache_dir).get_template(ISSUE_TEMPLATE).render(context)


def list_page(ws: Workspace, report: ListReport) -> str:
    labels = [f"{issue.issue_id}\n{issue.first_sent:%Y-%m-%d}" for issue in report.issues]  # local dates
    context = {
        "newsletter": ws.config.newsletter, "report": report, "threshold": COMPLAINT_THRESHOLD, "tz": ws.tz,
        "size_chart": _chart(charts.active_subscribers, [at for at, _ in report.active],
                             [n for _, n in report.active], ws.tz),
        "rate_chart": _chart(charts.rates, labels, {
            "bounces": [i.funnel.bounce_rate for i in report.issues],
            "unsubscribes": [i.funnel.unsubscribe_rate for i in report.issues]},
            [i.funnel.complaint_rate for i in report.issues], COMPLAINT_THRESHOLD),
    }
    return template_environment(ws.templates_dir, cache_dir=ws.cache_dir).get_template(LIST_TEMPLATE).render(context)


def write_issue_page(ws: Workspace, report: IssueReport) -> Path:
    path = ws.issue_dir(report.issue_id) / "report.html"
    write_atomic(path, issue_page(ws, report))
    return path


def write_list_page(ws: Workspace, report: ListReport) -> Path:
    path = ws.issues_dir / "report.html"
    write_atomic(path, list_page(ws, report))
    return path
