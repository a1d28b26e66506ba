"""What the report commands do: compute, write the page, hand back both for printing."""

from __future__ import annotations

from pathlib import Path

from ..config import Workspace
from ..db import open_database
from ..errors import GbaletterError
from ..issue.manifest import load_manifest
from .numbers import IssueReport, ListReport, issue_report, list_report
from .page import write_issue_page, write_list_page


def report_issue(ws: Workspace, issue_id: str) -> tuple[IssueReport, Path]:
    """The report of `issue_id` and `issues/<ID>/report.html`, written."""
    subject = load_manifest(ws, issue_id).subject
    db = open_database(ws)
    try:
        report = issue_report(ws, db, issue_id, subject)
    finally:
        db.dispose()
    return report, write_issue_page(ws, report)


def report_list(ws: Workspace) -> tuple[ListReport, Path]:
    """The report across every sent issue and `issues/report.html`, written."""
    db = open_database(ws)
    try:
        report = list_report(ws, db)
    finally:
        db.dispose()
    if not report.issues:
        raise GbaletterError("no issue has been sent yet: nothing to report")
    return report, write_list_page(ws, report)
