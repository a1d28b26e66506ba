"""Tests that need a program from the system (Chromium, Postfix, Dovecot, nginx, ...).

Where the program is missing, the test is skipped on a developer's machine but fails in CI
(`CI=true`, set by the CI runner): `.ci/run` installs every program the suite uses, so a missing
one there is a broken install step, never a reason to pass quietly.
"""

from __future__ import annotations

import os
import shutil

import pytest

from gbaletter.errors import GbaletterError
from gbaletter.issue.browser import find_chromium

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def program_missing(reason: str):
    """Skip (or, in CI, fail) the calling test: `reason` names the program and how to install it."""
    if IN_CI:
        pytest.fail(f"{reason}; CI must install it (.ci/run)", pytrace=False)
    pytest.skip(reason)


def require_program(name: str, package: str) -> str:
    """The path of `name` (also looked up in the sbin folders), or skip/fail the test."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if path is None:
        program_missing(f"{name} is not installed (apt-get install {package})")
    assert path is not None
    return path


def _chromium_installed() -> bool:
    try:
        find_chromium()
    except GbaletterError:
        return False
    return True


@pytest.fixture
def chromium() -> None:
    """Use as `@pytest.mark.usefixtures("chromium")`: the test needs Debian's chromium."""
    if not _chromium_installed():
        program_missing("Chromium is not installed (apt-get install chromium)")
