"""What an issue id may be: a folder name and one segment of a URL (letters, digits, '-', '_',
'.'). Its own module, so the pages that take an id from a URL load no content parser."""

from __future__ import annotations

import re

from ..errors import GbaletterError

ISSUE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_issue_id(issue_id: str) -> str:
    if not ISSUE_ID.match(issue_id):
        raise GbaletterError(f"'{issue_id}' is not a valid issue id (letters, digits, '-', '_', '.')")
    return issue_id
