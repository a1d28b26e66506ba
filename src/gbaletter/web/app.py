"""The ASGI app: routes, form parsing and responses; the decisions live in `subscription` and
`archive`. The subscribe form is `signup_pages`, the reader's own page `reader_pages`.

Every page answers at the path of `base_url` (/newsletter/u/<token>) and at the root (/u/<token>),
so a reverse proxy may pass the path on as it is or strip the prefix: both work without a setting.

Database work runs in Starlette's thread pool (SQLAlchemy sessions are blocking).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from ..config import Workspace, load_workspace
from ..db import Database, open_database
from ..db.migrate import newest_revision, recorded_revision
from ..delivery.effects import Cause
from ..issue.published import find_image
from ..languages import UnknownLanguage, normalize_language
from ..links import (ARCHIVE_FEED_PATH, CLICK_PATH, IMAGES_PATH, OPEN_PATH, archive_feed_url, archive_url,
                     base_path, edition_path, origin, preferences_token, public_origin, signer_for, view_url)
from ..errors import GbaletterError
from ..subscribers.models import Subscriber
from ..translations import N_
from ..tokens import BadToken, Signer
from ..tracking.retention import RECHECK_SECONDS, close_windows, seconds_to_next_close
from . import archive
from .emails import send_welcome
from .feed import atom_feed
from .pages import ISSUE_HEADERS, Pages
from .proxy import TrustedProxyHeaders
from .reader_pages import ReaderPages
from .signup_pages import SignUpPages
from .subscription import (Activation, NewSubscriber, Outcome, UnsubscribeLink, confirm_sign_up,
                           confirmation_offer, read_unsubscribe_link, resubscribe_by_link, resubscribe_offer)
from .tracking import Tracking
from .unsubscribes import UnsubscribeWriter

log = logging.getLogger(__name__)

ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"  # RFC 8058: what a mail client POSTs
FORM_LIMITS = {"max_files": 0, "max_fields": 50, "max_part_size": 4096}
MAX_BODY_BYTES = 64 * 1024
PURGE_INTERVAL = 3600  # seconds between two purges of expired sign-ups, in each server process


class _Site:
    """The endpoints, sharing the workspace, the database, the signer and the rate limit."""

    def __init__(self, ws: Workspace, db: Database, signer: Signer):
        self.ws = ws
        self.db = db
        self.signer = signer
        self.pages = Pages(ws)
        self.unsubscribes = UnsubscribeWriter(db, signer)
        self.sign_ups = SignUpPages(ws, db, signer, self.pages, FORM_LIMITS)
        self.reader_pages = ReaderPages(ws, db, signer, self.pages, self.sign_ups.caps, FORM_LIMITS)

    # -- confirm ---------------------------------------------------------------------------

    async def confirm(self, request: Request) -> Response:
        """GET shows a button (mail scanners open links); only its POST confirms. Both answer in
        the language stored for the subscriber the (verified) link names."""
        token = request.path_params["token"]
        if request.method != "POST":  # GET or HEAD
            offer = await run_in_threadpool(self._read_token, confirmation_offer, token)
            if offer.outcome is Outcome.PENDING:
                return self.pages.render(request, "confirm", stored_language=offer.language)
            return self._activation_page(request, offer, "confirmed")
        done = await run_in_threadpool(self._in_session, confirm_sign_up, token)
        response = self._activation_page(request, done, "confirmed")
        if done.new_subscriber is not None and self.ws.config.newsletter.welcome_email:
            response.background = BackgroundTask(self._send_welcome, done.new_subscriber)
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

    def _activation_page(self, request: Request, activation: Activation, page: str) -> HTMLResponse:
        if activation.outcome is Outcome.STALE:
            return self._bad_link(request, N_("this link is no longer valid: the subscription "
                                              "changed after it was sent"), activation.language)
        return self.pages.render(request, page, stored_language=activation.language,
                                 already=activation.outcome is Outcome.ALREADY)

    # -- unsubscribe and resubscribe -------------------------------------------------------

    async def unsubscribe(self, request: Request) -> Response:
        """GET shows a button (mail scanners follow links); POST unsubscribes, one-click or not.
        Both answer in the language stored for the link's subscriber."""
        link = read_unsubscribe_link(self.signer, request.path_params["token"])
        if request.method != "POST":  # GET or HEAD
            offer, preferences, language = await run_in_threadpool(self._offer, link)
            if offer:
                return self.pages.render(request, "unsubscribed", stored_language=language,
                                         resubscribe_token=offer, preferences_token=preferences)
            return self.pages.render(request, "unsubscribe", stored_language=language,
                                     preferences_token=preferences)
        form = await request.form(**FORM_LIMITS)
        if form.get(ONE_CLICK_FIELD) == ONE_CLICK_VALUE:
            cause, reason = Cause.ONE_CLICK, f"one-click unsubscribe from issue {link.issue_id}"
        elif form.get("unsubscribe"):
            cause, reason = Cause.UNSUBSCRIBE_PAGE, f"unsubscribe page of issue {link.issue_id}"
        else:
            return self._bad_request(request, N_("This request did not ask to unsubscribe; nothing "
                                                 "was changed."))
        done = await self.unsubscribes.unsubscribe(link, cause, reason)
        return self.pages.render(request, "unsubscribed", stored_language=done.language,
                                 resubscribe_token=done.resubscribe_token)

    def _offer(self, link: UnsubscribeLink) -> tuple[str | None, str | None, str | None]:
        """The resubscribe offer, the token of the subscriber's preference page and their language."""
        with self.db.reader() as session:
            subscriber = session.get(Subscriber, link.subscriber_id)
            if subscriber is None:
                return None, None, None
            return (resubscribe_offer(session, self.signer, link),
                    preferences_token(self.signer, subscriber.id, subscriber.email), subscriber.language)

    async def resubscribe(self, request: Request) -> Response:
        token = request.path_params["token"]
        done = await run_in_threadpool(self._in_session, resubscribe_by_link, token)
        return self._activation_page(request, done, "resubscribed")

    # -- archive ---------------------------------------------------------------------------

    async def archive_list(self, request: Request) -> Response:
        """The sent issues, each as its edition in the page's language (`?lang=`, Accept-Language)."""
        issues = await run_in_threadpool(self._read, archive.sent_issues)
        language = self.pages.language(request)
        return self.pages.render(request, "archive", issues=issues, listed=archive.listing(self.ws, issues, language),
                                 canonical=archive_url(self.ws, language),
                                 feed_url=archive_feed_url(self.ws, language))

    async def archive_latest(self, request: Request) -> Response:
        """The newest sent issue's page, in the edition of the reader's language (`?lang=`, then
        Accept-Language), by a redirect (its own address is the one to share)."""
        issue = await run_in_threadpool(self._read, archive.latest_issue)
        if issue is None:
            raise HTTPException(404)
        edition = issue.edition(self.pages.language(request))
        return RedirectResponse(view_url(self.ws, issue.issue_id, edition.language), 307,
                                headers={"Cache-Control": "no-cache", "Vary": "Accept-Language"})

    async def archive_feed(self, request: Request) -> Response:
        """The feed of the edition in the reader's language (`?lang=`, then Accept-Language)."""
        issues = await run_in_threadpool(self._read, archive.sent_issues)
        return Response(atom_feed(self.ws, issues, self.pages.language(request)),
                        media_type="application/atom+xml; charset=utf-8", headers={"Vary": "Accept-Language"})

    async def image(self, request: Request) -> Response:
        """A build's resized image: its name is its content's hash, so it never changes."""
        path = await run_in_threadpool(find_image, self.ws, request.path_params["name"])
        if path is None:
            raise HTTPException(404)
        return FileResponse(path, headers={"Cache-Control": "public, max-age=31536000, immutable",
                                           "X-Content-Type-Options": "nosniff"})

    async def archive_issue(self, request: Request) -> Response:
        """/archive/<id>: the default language's edition; /archive/<id>/<language>: another's. Any
        other spelling of an edition's language (zh-hk), or the default's, is sent on to its one
        address (301); a language the issue was not sent in is not found."""
        issue_id, asked = request.path_params["issue_id"], request.path_params.get("language")
        issue = await run_in_threadpool(self._read, archive.sent_issue, issue_id)
        if issue is None:
            raise HTTPException(404)
        edition = issue.editions[0]
        if asked is not None:
            try:
                edition = issue.edition(normalize_language(asked, [e.language for e in issue.editions]))
            except UnknownLanguage:
                raise HTTPException(404) from None
            if edition_path(self.ws, edition.language) != f"/{asked}":
                return RedirectResponse(view_url(self.ws, issue_id, edition.language), 301)
        page = await run_in_threadpool(archive.archived_page, self.ws, issue, edition)
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
                revision = recorded_revision(connection)
        except SQLAlchemyError as exc:
            log.warning("health check: the database does not answer: %s", exc)
            return False
        if revision != newest_revision():
            log.warning("health check: the database schema is at %s, this gbaletter needs %s",
                        revision, newest_revision())
            return False
        return True

    # -- errors ----------------------------------------------------------------------------

    def _bad_link(self, request: Request, reason: str, stored_language: str | None = None) -> HTMLResponse:
        """A link that cannot be used; in the request's language unless it was verified and its
        subscriber is known (`stored_language`): a forged token never picks a subscriber's."""
        return self.pages.render(request, "bad_link", 400, stored_language=stored_language, reason=reason)

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


async def _purge_every_hour(sign_ups: SignUpPages) -> None:
    """Delete the sign-ups whose confirmation link expired, at start and then every hour: each
    worker does it (an idempotent DELETE), so no separate job is needed."""
    while True:
        try:
            purged = await run_in_threadpool(sign_ups.purge_expired_sign_ups)
            if purged:
                log.info("purged %d sign-ups whose confirmation link expired", purged)
        except SQLAlchemyError as exc:
            log.warning("purging expired sign-ups failed: %s", exc)
        await asyncio.sleep(PURGE_INTERVAL)


async def _close_windows_on_time(ws: Workspace, db: Database) -> None:
    """Drop who clicked when each issue's reporting window ends, for as long as `serve` runs
    (tracking/retention.py); a failure (the database away) is logged and tried again later."""
    while True:
        try:
            wait = await run_in_threadpool(seconds_to_next_close, ws, db)
            if wait is None:
                return
            await asyncio.sleep(wait)
            closed = await run_in_threadpool(close_windows, ws, db)
            if closed:
                log.info("reporting window closed, who clicked dropped: %s", ", ".join(closed))
        except Exception:
            log.exception("closing the reporting windows failed; trying again in %.0f s", RECHECK_SECONDS)
            await asyncio.sleep(RECHECK_SECONDS)


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
        purging = asyncio.create_task(_purge_every_hour(site.sign_ups))
        closing = asyncio.create_task(_close_windows_on_time(ws, database))
        # everything loaded so far lives as long as the process: keep it out of the collector's
        # full passes, which otherwise walk it all and stall every request in flight
        gc.freeze()
        yield
        purging.cancel()
        with suppress(asyncio.CancelledError):
            await purging
        closing.cancel()
        tracking.recorder.close()  # every click answered so far is committed before we exit
        site.unsubscribes.close()
        if db is None:
            database.dispose()

    routes = [
        Route("/", site.sign_ups.subscribe, methods=["GET", "POST"]),
        Route("/subscribe", site.sign_ups.subscribe, methods=["GET", "POST"]),
        Route("/embed", site.sign_ups.embed, methods=["GET", "POST"]),
        Route("/confirm/{token}", site.confirm, methods=["GET", "POST"]),
        Route("/altcha/challenge", site.sign_ups.challenge, methods=["GET"]),
        Route("/altcha.js", site.sign_ups.solver_script, methods=["GET"]),
        Route("/u/{token}", site.unsubscribe, methods=["GET", "POST"]),
        Route("/resubscribe/{token}", site.resubscribe, methods=["POST"]),
        Route("/p/{token}", site.reader_pages.preference_page, methods=["GET", "POST"]),
        Route("/address/{token}", site.reader_pages.address, methods=["GET", "POST"]),
        Route("/archive", site.archive_list, methods=["GET"]),
        Route("/archive/latest", site.archive_latest, methods=["GET"]),
        Route(ARCHIVE_FEED_PATH, site.archive_feed, methods=["GET"]),
        Route("/archive/{issue_id}", site.archive_issue, methods=["GET"]),
        Route("/archive/{issue_id}/{language}", site.archive_issue, methods=["GET"]),
        Route(IMAGES_PATH + "/{name}", site.image, methods=["GET"]),
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
