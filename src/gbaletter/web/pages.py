"""HTML responses: the page templates (`templates/web/*.html.j2`, the workspace's first, then the
package defaults) and the headers every page gets.

Links between pages are relative to the app's root, so the pages work wherever the app is reached
(under base_url's /newsletter, at the root behind a proxy that strips it, on 127.0.0.1 alike). The
public pages (the form, the archive) name their one address under base_url as canonical, since
the same page answers at several paths; personal pages are kept out of search engines instead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ..config import Workspace
from ..issue.templates import template_environment
from ..languages import UnknownLanguage, choose_language, normalize_language
from ..links import language_query
from ..translations import N_ as N_  # the pages' modules mark their labels with it

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


def site_root(request: Request) -> str:
    """The app's root relative to the requested page: "./" for /subscribe, "../" for /u/<token>."""
    path = request.url.path.removeprefix(request.scope.get("root_path", ""))
    return "../" * (path.count("/") - 1) or "./"


def page_language(languages: Sequence[str], stored: str | None, asked: str, accept_language: str) -> str:
    """The desk language a page answers in (the table in docs/editions.md): the language stored
    for the subscriber a verified link names (`stored`; None on a public page, or when the link
    was not verified or its subscriber is gone), else `?lang=` (`asked`, any spelling), else the
    browser's Accept-Language. A stored or asked language the desk does not write (any more) is
    passed over."""
    for value in (stored or "", asked):
        try:
            return normalize_language(value, languages)
        except UnknownLanguage:
            continue
    return choose_language(accept_language, languages)


def _pages_environment(templates_dir: Path, language: str, cache_dir: Path) -> Environment:
    """The template environment, without Jinja's check of every template file's time at every
    use (three files a page, about 7% of serve's time under one-click POSTs): `Pages` makes a new
    environment every RECHECK_SECONDS, which reads edited files afresh."""
    environment = template_environment(templates_dir, language, cache_dir)
    environment.auto_reload = False
    return environment


class Pages:
    def __init__(self, ws: Workspace):
        self.ws = ws
        self._templates_dir = ws.templates_dir  # resolved once: resolve() is a syscall per part
        self._cache_dir = ws.cache_dir
        self._environments: dict[str, Environment] = {}
        self._checked = time.monotonic()

    def environment(self, language: str) -> Environment:
        """The template environment of `language`, looked over for added or removed workspace
        templates at most once every RECHECK_SECONDS (a walk of the folder per page cost more than
        the page), which also reads edited files afresh."""
        now = time.monotonic()
        if now - self._checked > RECHECK_SECONDS:
            self._environments, self._checked = {}, now
        if language not in self._environments:
            self._environments[language] = _pages_environment(self._templates_dir, language, self._cache_dir)
        return self._environments[language]

    def language(self, request: Request, stored: str | None = None) -> str:
        """The desk language of a page for `request` (`page_language`); `stored` is the language
        of the subscriber a verified link names, on a personal page."""
        return page_language(self.ws.config.newsletter.languages, stored,
                             request.query_params.get("lang", ""), request.headers.get("accept-language", ""))

    def render(self, request: Request, page: str, status_code: int = 200,
               headers: dict[str, str] = PAGE_HEADERS, stored_language: str | None = None,
               **context: object) -> HTMLResponse:
        """The page `templates/web/<page>.html.j2` with `context`, the newsletter and the root, in
        the language `language` chooses (`stored_language`: the reader's, on a personal page whose
        link was verified)."""
        language = self.language(request, stored_language)
        template = self.environment(language).get_template(f"web/{page}.html.j2")
        # the links to the public pages keep the page's language (`?lang=zh-Hant`, none for the default)
        body = template.render(newsletter=self.ws.config.newsletter, root=site_root(request),
                               lang_query=language_query(self.ws, language), **context)
        return HTMLResponse(body, status_code, headers=headers)
