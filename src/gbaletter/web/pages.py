"""HTML responses: the page templates (`templates/web/*.html.j2`, the workspace's first, then the
package defaults) and the headers every page gets.

Links between pages are relative to the app's root, so the pages work wherever the app is reached
(under base_url's /newsletter, at the root behind a proxy that strips it, on 127.0.0.1 alike). The
public pages (the form, the archive) name their one address under base_url as canonical, since
the same page answers at several paths; personal pages are kept out of search engines instead.
"""

from __future__ import annotations

import time
from pathlib import Path

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ..config import Workspace
from ..issue.templates import template_environment

RECHECK_SECONDS = 1.0
# No scripts (but the form's own); no framing (a framed unsubscribe button could be clicked by a trick);
# tokens in the URL never leak to other sites through the Referer header.
_COMMON = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "Cache-Control": "no-store"}
PAGE_HEADERS = {**_COMMON, "Content-Security-Policy":
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                "frame-ancestors 'none'; base-uri 'none'"}
# The subscribe form runs one script of ours (the proof-of-work, `static/altcha.js`), which
# fetches its challenge from us; nothing else.
FORM_HEADERS = {**PAGE_HEADERS, "Content-Security-Policy":
                "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}
# An archived issue is the email itself: its images may come from anywhere, it has no forms.
ISSUE_HEADERS = {**_COMMON, "Content-Security-Policy":
                 "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
                 "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"}


def N_(message: str) -> str:  # gettext's name for a message translated later
    """Marks a reader-facing message for the catalogue; the page template translates it."""
    return message


def site_root(request: Request) -> str:
    """The app's root relative to the requested page: "./" for /subscribe, "../" for /u/<token>."""
    path = request.url.path.removeprefix(request.scope.get("root_path", ""))
    return "../" * (path.count("/") - 1) or "./"


def _pages_environment(templates_dir: Path) -> Environment:
    """The template environment, without Jinja's check of every template file's time at every
    use (three files a page, about 7% of serve's time under one-click POSTs): `Pages` makes a new
    environment every RECHECK_SECONDS, which reads edited files afresh."""
    environment = template_environment(templates_dir)
    environment.auto_reload = False
    return environment


class Pages:
    def __init__(self, ws: Workspace):
        self.ws = ws
        self._templates_dir = ws.templates_dir  # resolved once: resolve() is a syscall per part
        self._environment = _pages_environment(self._templates_dir)
        self._checked = time.monotonic()

    def environment(self) -> Environment:
        """The template environment, made afresh at most once every RECHECK_SECONDS, so that
        added, removed and edited workspace templates show within a second (a walk of the folder
        per page cost more than the page)."""
        now = time.monotonic()
        if now - self._checked > RECHECK_SECONDS:
            self._environment, self._checked = _pages_environment(self._templates_dir), now
        return self._environment

    def render(self, request: Request, page: str, status_code: int = 200,
               headers: dict[str, str] = PAGE_HEADERS, **context: object) -> HTMLResponse:
        """The page `templates/web/<page>.html.j2` with `context`, the newsletter and the root."""
        template = self.environment().get_template(f"web/{page}.html.j2")
        body = template.render(newsletter=self.ws.config.newsletter, root=site_root(request), **context)
        return HTMLResponse(body, status_code, headers=headers)
