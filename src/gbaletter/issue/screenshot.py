"""`issue screenshot`: the built email as a desktop and a phone reader see it, as PNG files.

Both are full-page pictures of `email.html` with sample values in its placeholders, taken in
headless Chromium at the email's own width and a common phone width.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Workspace
from ..fsutil import write_atomic
from .browser import chromium, email_page
from .built import DESKTOP_WIDTH, PHONE_WIDTH, read_build, require_current
from .images import served_files

WIDTHS = {"desktop.png": DESKTOP_WIDTH, "mobile.png": PHONE_WIDTH}


def take_screenshots(ws: Workspace, issue_id: str) -> list[Path]:
    """Write build/desktop.png and build/mobile.png for an up-to-date build; their paths."""
    built = require_current(ws, read_build(ws, issue_id))
    html = built.sample_html()
    written = []
    with chromium() as browser:
        for name, width in WIDTHS.items():
            with email_page(browser, html, width, served_files(ws, built.folder)) as page:
                picture = page.screenshot(full_page=True, type="png")
            write_atomic(built.folder / name, picture)
            written.append(built.folder / name)
    return written
