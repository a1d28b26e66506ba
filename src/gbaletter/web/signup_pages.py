"""The subscribe form over HTTP: its page, the embeddable one (/embed), the proof-of-work's
challenge and script, and the answer to a sign-up. The decisions are in `subscription` (what a
sign-up stores), `limits` (the caps), `proof`, `blocklist` and `embedding`; here they run in the
order docs/security.md gives. The confirmation email is sent after the response, so the answer is
the same, and as fast, whether the address was known or not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..config import Workspace
from ..db import Database, utcnow
from ..errors import GbaletterError
from ..languages import LANGUAGES, UnknownLanguage, normalize_language
from ..links import subscribe_url
from ..subscribers.addresses import InvalidAddress, normalize_address
from ..subscribers.service import normalize_name
from ..tokens import Signer
from . import limits, proof
from .blocklist import BlockedDomains
from .emails import send_confirmation
from .embedding import allowed_return, embed_headers
from .pages import FORM_HEADERS, N_, Pages
from .subscription import PendingConfirmation, SignUp, purge_expired_sign_ups, request_sign_up

log = logging.getLogger(__name__)

HONEYPOT = "website"  # a field people never see; bots that fill in every field fill it in
SOLVER_SCRIPT = (Path(__file__).parent / "static" / "altcha.js").read_bytes()


@dataclass
class _SignUpReply:
    """The answers to one sign-up: the form again (with a problem), or the one answer to every
    sign-up: the "check your inbox" page, or a redirect to the allowed `return_to`."""

    pages: Pages
    request: Request
    embedded: bool
    return_to: str
    context: dict[str, Any]  # the form's own values (a page's, never `stored_language`)
    headers: dict[str, str]

    def form(self, error: str = "", email: str = "", name: str = "",
             chosen: list[str] | None = None, language: str = "") -> HTMLResponse:
        """The form; its language choice preselects `language`, else the page's (`?lang=`, then
        the browser's); the topics are named in the page's language, all ticked at first."""
        topics = self.pages.ws.config.topic_names(self.pages.language(self.request))
        languages = cast(list[str], self.context["desk_languages"])
        return self.pages.render(
            self.request, "embed" if self.embedded else "subscribe", 400 if error else 200, self.headers,
            error=error, email=email, name=name, topics=topics, chosen=list(topics) if chosen is None else chosen,
            interests=list(topics),  # what a form template copied before topics had names reads
            return_to=self.return_to, embedded=self.embedded,
            languages=[LANGUAGES[tag] for tag in languages] if len(languages) > 1 else [],
            language=language or self.pages.language(self.request),
            **self.context)

    def sent(self, email: str) -> Response:
        if self.return_to:
            return RedirectResponse(self.return_to, 303, headers={"Cache-Control": "no-store",
                                                                   "Referrer-Policy": "no-referrer"})
        return self.pages.render(self.request, "subscribe_sent", 200, self.headers, email=email,
                                 embedded=self.embedded, wait_minutes=limits.ADDRESS_INTERVAL // 60)


class SignUpPages:
    def __init__(self, ws: Workspace, db: Database, signer: Signer, pages: Pages,
                 form_limits: dict[str, int]):
        self.ws, self.db, self.signer, self.pages = ws, db, signer, pages
        self.form_limits = form_limits
        self.proof = proof.ProofOfWork(signer, ws.config.web.proof_of_work)
        self.caps = limits.Caps.from_settings(ws.config.web)
        self.blocked = BlockedDomains.of(ws)

    def _reply(self, request: Request, embedded: bool, return_to: str = "") -> _SignUpReply:
        return _SignUpReply(self.pages, request, embedded, return_to, {
            "canonical": subscribe_url(self.ws),
            "desk_languages": self.ws.config.newsletter.languages, "proof_of_work": self.proof.required},
            embed_headers(self.ws.config.web.embed_origins) if embedded else FORM_HEADERS)

    async def subscribe(self, request: Request) -> Response:
        return await self._sign_up(request, embedded=False)

    async def embed(self, request: Request) -> Response:
        """The form without the site's frame, for the desk's pages to show in an iframe (only
        `[web] embed_origins` may: CSP frame-ancestors); its answers stay in the frame."""
        return await self._sign_up(request, embedded=True)

    async def _sign_up(self, request: Request, embedded: bool) -> Response:
        """The form; its POST answers every sign-up that could be one with the same page (or the
        same redirect to an allowed `return_to`), whatever became of it (stored, capped,
        suppressed, blocked, a bot's), so the answer tells nobody whether an address is on the
        list. docs/security.md has the defences, in this order."""
        if request.method != "POST":
            return self._reply(request, embedded).form()
        form = await request.form(**self.form_limits)
        return_to = str(form.get("return_to", ""))
        if return_to and not allowed_return(return_to, self.ws.config.web.embed_origins):
            return self.pages.render(request, "error", 400, title=N_("Bad request"), message=N_(
                "This form may only send you back to the newsletter's own sites; nothing was changed."))
        reply = self._reply(request, embedded, return_to)
        typed = str(form.get("email", ""))
        if form.get(HONEYPOT):
            return reply.sent(typed)  # store nothing, send nothing
        name = str(form.get("name", ""))
        chosen = [tag for tag in self.ws.config.offered_topics if tag in form.getlist("interests")]
        languages = self.ws.config.newsletter.languages
        typed_language = str(form.get("language", "")) or languages[0]
        again = (typed, name, chosen, typed_language if typed_language in languages else "")
        try:
            sign_up = SignUp(normalize_address(typed), normalize_name(name), tuple(chosen),
                             normalize_language(typed_language, languages))
        except InvalidAddress:
            return reply.form(N_("Please check the email address: it is not valid."), *again)
        except UnknownLanguage:
            return reply.form(N_("Please choose one of the languages listed."), *again)
        except GbaletterError:
            return reply.form(N_("Please check the name: it must be one line of at most 200 "
                                 "characters."), *again)
        if not sign_up.email.isascii():  # the sender cannot deliver to these (no SMTPUTF8) yet
            return reply.form(N_("Sorry, this email address cannot get the newsletter: it has "
                                 "characters beyond plain ASCII."), *again)
        challenge = self.proof.solved(str(form.get(proof.FIELD, "")))
        if self.proof.required and challenge is None:
            return reply.form(N_("The check that this is a person and not a program did not "
                                 "finish: please wait a moment and send the form again (it needs "
                                 "JavaScript)."), *again)
        answer = reply.sent(sign_up.email)
        if self.blocked.blocks(sign_up.email):
            return answer
        keys = limits.sign_up_keys(sign_up.email, request.client.host if request.client else "",
                                   challenge or "")
        claim = await run_in_threadpool(limits.claim, self.db, keys, self.caps, utcnow())
        if claim is None:
            return answer
        pending = await run_in_threadpool(self._record_sign_up, sign_up)
        if pending is not None:
            answer.background = BackgroundTask(self._send_confirmation, claim, pending)
        return answer

    def _record_sign_up(self, sign_up: SignUp) -> PendingConfirmation | None:
        with self.db.session() as session:
            return request_sign_up(session, self.signer, sign_up)

    async def _send_confirmation(self, claim: bytes, pending: PendingConfirmation) -> None:
        sent = False
        try:
            await send_confirmation(self.ws, pending)
            sent = True
        except GbaletterError as exc:
            log.warning("confirmation email not sent: %s", exc)
        finally:
            if not sent:
                await run_in_threadpool(limits.release, self.db, claim)  # try again without waiting

    async def challenge(self, request: Request) -> Response:
        """A fresh proof-of-work challenge. Any site may fetch one (the desk's own pages carry the
        form too): it is public, carries no cookie and changes nothing."""
        return JSONResponse(self.proof.challenge(), headers={
            "Cache-Control": "no-store", "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff"})

    async def solver_script(self, request: Request) -> Response:
        """The script that solves the challenge in the visitor's browser (ours, no CDN)."""
        return Response(SOLVER_SCRIPT, media_type="text/javascript", headers={
            "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "cross-origin"})

    def purge_expired_sign_ups(self) -> int:
        with self.db.session() as session:
            return purge_expired_sign_ups(session, utcnow())
