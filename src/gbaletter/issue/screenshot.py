"""`issue screenshot`: the built email as a desktop and a phone reader see it, in the light and
the dark scheme, as PNG files.

Each is a full-page picture of `email.html` (and of each edition's `email.<lang>.html` on a desk
with several languages, as `desktop.<lang>.png`, ...) with sample values in its placeholders, taken in
headless Chromium at a desktop reading pane's width and a common phone width; the dark ones as a
client honouring `prefers-color-scheme: dark` shows it (Apple Mail, iOS Mail, Outlook for Mac).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ..config import Workspace
from ..fsutil import write_atomic
from .browser import chromium, email_page
from .built import DESKTOP_WIDTH, PHONE_WIDTH, fill_samples, read_build, require_current
from .edition import edition_file
from .images import served_files

# file name -> (viewport width, colour scheme)
SHOTS: dict[str, tuple[int, Literal["light", "dark"]]] = {
    "desktop.png": (DESKTOP_WIDTH, "light"), "mobile.png": (PHONE_WIDTH, "light"),
    "desktop-dark.png": (DESKTOP_WIDTH, "dark"), "mobile-dark.png": (PHONE_WIDTH, "dark")}


def take_screenshots(ws: Workspace, issue_id: str) -> list[Path]:
    """Write the SHOTS into the build folder of an up-to-date build, for `email.html` and for each
    edition's email; their paths."""
    built = require_current(ws, read_build(ws, issue_id))
    emails = {"": built.sample_html()}
    for language in built.info.get("editions", {}):
        emails[language] = fill_samples((built.folder / edition_file("email.html", language)).read_text(
            encoding="utf-8"))
    written = []
    with chromium() as browser:
        images = served_files(ws, built.folder)
        for language, html in emails.items():
            for name, (width, scheme) in SHOTS.items():
                with email_page(browser, html, width, scheme, images) as page:
                    picture = page.screenshot(full_page=True, type="png")
                path = built.folder / (edition_file(name, language) if language else name)
                write_atomic(path, picture)
                written.append(path)
    return written
