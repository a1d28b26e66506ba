"""`issue screenshot`: the built email as a desktop and a phone reader see it, in the light and
the dark scheme, as PNG files.

Each is a full-page picture of `email.html` with sample values in its placeholders, taken in
headless Chromium at a desktop reading pane's width and a common phone width; the dark ones as a
client honouring `prefers-color-scheme: dark` shows it (Apple Mail, iOS Mail, Outlook for Mac).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ..config import Workspace
from ..fsutil import write_atomic
from .browser import chromium, email_page
from .built import DESKTOP_WIDTH, PHONE_WIDTH, read_build, require_current
from .images import served_files

# file name -> (viewport width, colour scheme)
SHOTS: dict[str, tuple[int, Literal["light", "dark"]]] = {
    "desktop.png": (DESKTOP_WIDTH, "light"), "mobile.png": (PHONE_WIDTH, "light"),
    "desktop-dark.png": (DESKTOP_WIDTH, "dark"), "mobile-dark.png": (PHONE_WIDTH, "dark")}


def take_screenshots(ws: Workspace, issue_id: str) -> list[Path]:
    """Write the SHOTS into the build folder of an up-to-date build; their paths."""
    built = require_current(ws, read_build(ws, issue_id))
    html = built.sample_html()
    written = []
    with chromium() as browser:
        images = served_files(ws, built.folder)
        for name, (width, scheme) in SHOTS.items():
            with email_page(browser, html, width, scheme, images) as page:
                picture = page.screenshot(full_page=True, type="png")
            write_atomic(built.folder / name, picture)
            written.append(built.folder / name)
    return written
