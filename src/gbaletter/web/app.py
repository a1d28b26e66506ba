"""The ASGI app: routes, form parsing and responses; the decisions live in `subscription` and
`archive`.

Every page answers at the path of `base_url` (/newsletter/u/<token>) and at the root (/u/<token>),
so a reverse proxy may pass the path on as it is or strip the prefix: both work without a setting.

Database work runs in Starlette's thread pool (SQLAlchemy sessions are blocking); the confirmation
email is sent after the response, so the reply to the subscribe form is the same, and as fast,
whether the address was known or not.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from ..config import Workspace, load_workspace
from ..db import Database, open_database, utcnow
from ..db.migrate import current_revision, head_revision
from ..links import (CLICK_PATH, OPEN_PATH, archive_url, base_path, origin, public_origin, signer_for,
                     subscribe_url)
from ..errors import GbaletterError
from ..translations import N_
from ..languages import LANGUAGES, UnknownLanguage, choose_language, normalize_language
from ..subscribers.addresses import InvalidAddress, email_hash, normalize_address
from ..subscribers.service import normalize_name
from ..tokens import BadToken, Signer
from ..tracking.retention import close_windows
from . import archive
from .emails import send_confirmation, send_welcome
from . import limits
from .pages import ISSUE_HEADERS, Pages
from .proxy import TrustedProxyHeaders
from .subscription import (NewSubscriber, Outcome, PendingConfirmation, SignUp, UnsubscribeLink,
                           confirm_sign_up, confirmation_offer, read_unsubscribe_link, request_sign_up,
                           resubscribe_by_link, resubscribe_offer)
from .tracking import Tracking
from .unsubscribes import UnsubscribeWriter

log = logging.getLogger(__name__)

HONEYPOT = "website"  # a field people never see; bots that fill in every field fill it in
ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"  # RFC 8058: what a mail client POSTs
FORM_LIMITS = {"max_files": 0, "max_fields": 50, "max_part_size": 4096}
MAX_BODY_BYTES = 64 * 1024


class _Site:
    """The endpoints, sharing the workspace, the database, the signer and the rate limit."""

    def __init__(self, ws: Workspace, db: Database, signer: Signer):
        self.ws = ws
        self.db = db
        self.signer = signer
        self.pages = Pages(ws)
        self.unsubscribes = UnsubscribeWriter(db, signer)

    # -- subscribe and confirm -------------------------------------------------------------

    @property
    def interests(self) -> list[str]:
        return list(self.ws.config.newsletter.default_tags)

    @property
    def languages(self) -> list[str]:
        return self.ws.config.newsletter.languages

    def _form_page(self, request: Request, status_code: int = 200, error: str = "",
                   email: str = "", name: str = "", chosen: list[str] | None = None,
                   language: str = "") -> HTMLResponse:
        return self.pages.render(
            request, "subscribe", status_code, error=error, email=email, name=name,
            canonical=subscribe_url(self.ws), interests=self.interests,
            chosen=self.interests if chosen is None else chosen,
            languages=[LANGUAGES[tag] for tag in self.languages] if len(self.languages) > 1 else [],
            language=language or choose_language(request.headers.get("accept-language", ""), self.languages))

    async def subscribe(self, request: Request) -> Response:
        if request.method != "POST":
            return self._form_page(request)
        form = await request.form(**FORM_LIMITS)
        typed = str(form.get("email", ""))
        if form.get(HONEYPOT):
            return self._sent_page(request, typed)  # store nothing, send nothing
        name = str(form.get("name", ""))
        chosen = [tag for tag in self.interests if tag in form.getlist("interests")]
        typed_language = str(form.get("language", "")) or self.languages[0]
        again = (typed, name, chosen, typed_language if typed_language in self.languages else "")
        try:
            sign_up = SignUp(normalize_address(typed), normalize_name(name), tuple(chosen),
                             normalize_language(typed_language, self.languages))
        except InvalidAddress:
            return self._form_page(request, 400, N_("Please check the email address: it is not valid."), *again)
        except UnknownLanguage:
            return self._form_page(request, 400, N_("Please choose one of the languages listed."), *again)
        except GbaletterError:
            return self._form_page(request, 400, N_("Please check the name: it must be one line of "
                                      "at most 200 characters."), *again)
        if not sign_up.email.isascii():  # the sender cannot deliver to these (no SMTPUTF8) yet
            return self._form_page(request, 400, N_("Sorry, this email address cannot get the "
                                      "newsletter: it has characters beyond plain ASCII."), *again)
        sent_page = self._sent_page(request, sign_up.email)
        key = email_hash(sign_up.email)
        if not await run_in_threadpool(limits.claim, self.db, key, utcnow()):
            return sent_page
        pending = await run_in_threadpool(self._record_sign_up, sign_up)
        if pending is not None:
            sent_page.background = BackgroundTask(self._send_confirmation, key, pending)
        return sent_page

    def _sent_page(self, request: Request, email: str) -> HTMLResponse:
        """The one reply to every sign-up, whatever became of it."""
        return self.pages.render(request, "subscribe_sent", email=email,
                                 wait_minutes=limits.CONFIRMATION_INTERVAL // 60)

    def _record_sign_up(self, sign_up: SignUp) -> PendingConfirmation | None:
        with self.db.session() as session:
            return request_sign_up(session, self.signer, sign_up)

    async def _send_confirmation(self, key: bytes, pending: PendingConfirmation) -> None:
        sent = False
        try:
            await send_confirmation(self.ws, pending)
            sent = True
        except GbaletterError as exc:
            log.warning("confirmation email not sent: %s", exc)
        finally:
            if not sent:
                await run_in_threadpool(limits.release, self.db, key)  # try again without waiting

    async def confirm(self, request: Request) -> Response:
        """GET shows a button (mail scanners open links); only its POST confirms."""
        token = request.path_params["token"]
        if request.method != "POST":  # GET or HEAD
            offer = await run_in_threadpool(self._read_token, confirmation_offer, token)
            if offer is Outcome.PENDING:
                return self.pages.render(request, "confirm")
            return self._activation_page(request, offer, "confirmed")
        outcome, subscriber = await run_in_threadpool(self._in_session, confirm_sign_up, token)
        response = self._activation_page(request, outcome, "confirmed")
        if subscriber is not None and self.ws.config.newsletter.welcome_email:
            response.background = BackgroundTask(self._send_welcome, subscriber)
        return response

    async def _send_welcome(self, subscriber: NewSubscriber) -> None:
        try:
            await send_welcome(self.ws, self.signer, subscriber)
        except GbaletterError as exc:  # the subscription stands; only the greeting is lost
            log.warning("welcome email not sent: %s", exc)

    def _read_token(self, query, token: str):
        with self.db.reader() as session:
            return query(session, self.signer, token)

    def _in_session(self, action, token: str):
        with self.db.session() as session:
            return action(session, self.signer, token)

    def _activation_page(self, request: Request, outcome: Outcome, page: str) -> HTMLResponse:
        if outcome is Outcome.STALE:
            return self._bad_link(request, N_("this link is no longer valid: the subscription "
                                              "changed after it was sent"))
        return self.pages.render(request, page, already=outcome is Outcome.ALREADY)

    # -- unsubscribe and resubscribe -------------------------------------------------------

    async def unsubscribe(self, request: Request) -> Response:
        """GET shows a button (mail scanners follow links); POST unsubscribes, one-click or not."""
        link = read_unsubscribe_link(self.signer, request.path_params["token"])
        if request.method != "POST":  # GET or HEAD
            offer = await run_in_threadpool(self._offer, link)
            if offer:
                return self.pages.render(request, "unsubscribed", resubscribe_token=offer)
            return self.pages.render(request, "unsubscribe")
        form = await request.form(**FORM_LIMITS)
        if form.get(ONE_CLICK_FIELD) == ONE_CLICK_VALUE:
            actor, reason = "web:one-click", f"one-click unsubscribe from issue {link.issue_id}"
        elif form.get("unsubscribe"):
            actor, reason = "web:unsubscribe-page", f"unsubscribe page of issue {link.issue_id}"
        else:
            return self._bad_request(request, N_("This request did not ask to unsubscribe; nothing "
                                                 "was changed."))
        offer = await self.unsubscribes.unsubscribe(link, actor, reason)
        return self.pages.render(request, "unsubscribed", resubscribe_token=offer)

    def _offer(self, link: UnsubscribeLink) -> str | None:
        with self.db.reader() as session:
            return resubscribe_offer(session, self.signer, link)

    async def resubscribe(self, request: Request) -> Response:
        token = request.path_params["token"]
        outcome = await run_in_threadpool(self._in_session, resubscribe_by_link, token)
        return self._activation_page(request, outcome, "resubscribed")

    # -- archive ---------------------------------------------------------------------------

    async def archive_list(self, request: Request) -> Response:
        issues = await run_in_threadpool(self._read, archive.sent_issues)
        return self.pages.render(request, "archive", issues=issues, canonical=archive_url(self.ws))

    async def archive_issue(self, request: Request) -> Response:
        issue_id = request.path_params["issue_id"]
        page = await run_in_threadpool(self._read, archive.archived_page, issue_id)
        if page is None:
            raise HTTPException(404)
        return HTMLResponse(page, headers=ISSUE_HEADERS)

    def _read(self, query, *args):
        with self.db.reader() as session:
            return query(self.ws, session, *args)

    # -- health ----------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        """200 when the database answers with the schema this code expects, 503 otherwise; and
        whether the request's scheme and host (as the proxy forwarded them) are base_url's, which
        is how a deployer sees that the proxy's headers arrive and are believed. No personal data."""
        database_ok = await run_in_threadpool(self._database_ok)
        seen = origin(request.url.scheme, request.url.netloc)
        body = {"status": "ok" if database_ok else "unavailable",
                "database": "ok" if database_ok else "unavailable",
                "origin": seen, "origin_is_base_url": seen == public_origin(self.ws)}
        return JSONResponse(body, 200 if database_ok else 503, headers={"Cache-Control": "no-store"})

    def _database_ok(self) -> bool:
        try:
            with self.db.engine.connect() as connection:
                revision = current_revision(connection)
        except SQLAlchemyError as exc:
            log.warning("health check: the database does not answer: %s", exc)
            return False
        if revision != head_revision():
            log.warning("health check: the database schema is at %s, this gbaletter needs %s",
                        revision, head_revision())
            return False
        return True

    # -- errors ----------------------------------------------------------------------------

    def _bad_link(self, request: Request, reason: str) -> HTMLResponse:
        return self.pages.render(request, "bad_link", 400, reason=reason)

    def _bad_request(self, request: Request, message: str) -> HTMLResponse:
        return self.pages.render(request, "error", 400, title=N_("Bad request"), message=message)

    async def on_bad_token(self, request: Request, exc: Exception) -> Response:
        return self._bad_link(request, str(exc))

    async def on_http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        titles = {404: N_("Page not found"), 405: N_("Method not allowed")}
        messages = {404: N_("There is no page at this address."),
                    405: N_("This page cannot be used that way.")}
        response = self.pages.render(request, "error", exc.status_code,
                                     title=titles.get(exc.status_code, N_("Bad request")),
                                     message=messages.get(exc.status_code, exc.detail))
        response.headers.update(exc.headers or {})
        return response

    async def on_server_error(self, request: Request, exc: Exception) -> Response:
        return self.pages.render(request, "error", 500, title=N_("Something went wrong"),
                                 message=N_("The page could not be shown; please try again later."))


def create_app(ws: Workspace, db: Database | None = None) -> ASGIApp:
    """The subscriber pages of `ws`, behind `[web] trusted_proxies`. Needs GBALETTER_SECRET
    (GbaletterError without it); opens the workspace's database unless `db` is given (and then
    closes only what it opened)."""
    signer = signer_for(ws)
    database = db or open_database(ws)
    site = _Site(ws, database, signer)
    tracking = Tracking(database, signer)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(close_windows, ws, database)
        # everything loaded so far lives as long as the process: keep it out of the collector's
        # full passes, which otherwise walk it all and stall every request in flight
        gc.freeze()
        yield
        tracking.recorder.close()  # every click answered so far is committed before we exit
        site.unsubscribes.close()
        if db is None:
            database.dispose()

    routes = [
        Route("/", site.subscribe, methods=["GET", "POST"]),
        Route("/subscribe", site.subscribe, methods=["GET", "POST"]),
        Route("/confirm/{token}", site.confirm, methods=["GET", "POST"]),
        Route("/u/{token}", site.unsubscribe, methods=["GET", "POST"]),
        Route("/resubscribe/{token}", site.resubscribe, methods=["POST"]),
        Route("/archive", site.archive_list, methods=["GET"]),
        Route("/archive/{issue_id}", site.archive_issue, methods=["GET"]),
        Route(CLICK_PATH + "/{token}/{link_id}", tracking.click, methods=["GET"]),  # HEAD too
        Route(OPEN_PATH + "/{token}", tracking.open, methods=["GET"]),
        Route("/healthz", site.health, methods=["GET"]),
    ]
    prefix = base_path(ws)
    served: list[BaseRoute] = [Mount(prefix, routes=routes), *routes] if prefix else list(routes)
    handlers = {BadToken: site.on_bad_token, HTTPException: site.on_http_error,
                500: site.on_server_error}
    app = Starlette(routes=served, exception_handlers=handlers, lifespan=lifespan,
                    max_body_size=MAX_BODY_BYTES)
    app.router.redirect_slashes = False  # no redirects but the click's: "/subscribe/" is not found
    return TrustedProxyHeaders(app, ws.config.web.trusted_proxies)


def app_from_environment() -> ASGIApp:
    """The app of the workspace GBALETTER_ROOT names: the factory each `serve --workers` process
    imports (uvicorn starts workers from an import string, not from an object)."""
    return create_app(load_workspace())
