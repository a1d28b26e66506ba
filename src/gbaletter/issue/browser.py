"""Headless Chromium from the system, driven by Playwright, for screenshots and layout checks.

Playwright never downloads a browser here: it starts the Chromium the machine has (Debian's
`chromium`, or the one `GBALETTER_CHROMIUM` names). Pages are offline but for local files and
127.0.0.1, so a remote image can never hang a screenshot or tell a server an issue was opened.
The build's own images are answered from its files; any other remote image is drawn as a grey
square instead, stretched to the size its attributes and styles give it, so the layout keeps the
room an image takes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from ..errors import GbaletterError

if TYPE_CHECKING:  # Playwright is imported only when a browser is started
    from playwright.sync_api import Browser, Page, Route

CHROMIUM_ENV = "GBALETTER_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# No sandbox (containers and root lack the namespaces it needs), no GPU, and nothing that phones home.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGE_TIMEOUT_MS = 20_000
LOCAL_HOSTS = {"127.0.0.1"}
STAND_IN_IMAGE = ('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1">'
                  '<rect width="1" height="1" fill="#c9ced3"/></svg>')


def find_chromium() -> str:
    """The Chromium executable: `GBALETTER_CHROMIUM`, else the first known name on PATH."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        found = shutil.which(configured)
        if not found:
            raise GbaletterError(f"{CHROMIUM_ENV}={configured} is not an executable")
        return found
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise GbaletterError("Chromium is not installed (looked for chromium, chromium-browser and "
                         f"google-chrome): install it with `apt-get install chromium`, or set "
                         f"{CHROMIUM_ENV} to a Chromium or Chrome executable")


def is_local(url: str) -> bool:
    """May a page load `url`? Only inline data, local files and this machine's loopback server."""
    parts = urlsplit(url)
    return parts.scheme in ("data", "about", "file") or (
        parts.scheme in ("http", "https") and parts.hostname in LOCAL_HOSTS)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A running headless Chromium (a Playwright `Browser`), closed on exit."""
    # Imported here: loading Playwright takes ~0.2 s, which commands without a browser skip.
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                                 args=CHROMIUM_FLAGS)
        except PlaywrightError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown error"
            raise GbaletterError(f"cannot start Chromium ({executable}): {reason}") from None
        try:
            yield browser
        finally:
            browser.close()


def _offline(images: Mapping[str, Path]) -> Callable[[Route], None]:
    """Let local requests through, answer the build's own images from its files and other remote
    images with a stand-in, refuse the rest."""
    def route(route: Route) -> None:
        url = route.request.url
        if url in images:
            route.fulfill(status=200, path=images[url])
        elif is_local(url):
            route.continue_()
        elif route.request.resource_type == "image":
            route.fulfill(status=200, content_type="image/svg+xml", body=STAND_IN_IMAGE)
        else:
            route.abort()
    return route


@contextmanager
def email_page(browser: Browser, html: str, width: int, scheme: Literal["light", "dark"] = "light",
               images: Mapping[str, Path] | None = None) -> Iterator[Page]:
    """`html` loaded in a `width` px wide viewport with scripts off, as mail clients show it; with
    `scheme` "dark", as a client in dark mode that honours `prefers-color-scheme` (Apple Mail);
    `images` (address -> file, `images.served_files`) are the build's resized images."""
    context = browser.new_context(viewport={"width": width, "height": 800}, device_scale_factor=1,
                                  java_script_enabled=False, color_scheme=scheme)
    try:
        context.route("**/*", _offline(images or {}))
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.set_content(html, wait_until="load")
        yield page
    finally:
        context.close()
