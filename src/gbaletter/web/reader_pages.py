"""The reader's own pages over HTTP: the preference page (/p/<token>) and the link that confirms a
change of address (/address/<token>). The decisions are in `preferences`; here are the forms, the
responses and the emails. Each button posts an `action` with the token in the URL again: the
server keeps no session and sets no cookie.
"""

from __future__ import annotations

import json
import logging

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..config import Workspace
from ..db import Database, utcnow
from ..errors import GbaletterError
from ..languages import UnknownLanguage
from ..links import preferences_token
from ..subscribers.models import Subscriber
from ..tokens import BadToken, Signer
from . import limits, preferences
from .emails import send_address_change, send_address_changed_notice
from .pages import PAGE_HEADERS, N_, Pages

log = logging.getLogger(__name__)

ACTIONS = ("topics", "language", "pause", "resume", "address", "download", "erase", "unsubscribe")


class ReaderPages:
    def __init__(self, ws: Workspace, db: Database, signer: Signer, pages: Pages, caps: limits.Caps,
                 form_limits: dict[str, int]):
        self.ws, self.db, self.signer, self.pages, self.caps = ws, db, signer, pages, caps
        self.form_limits = form_limits

    def _page(self, request: Request, token: str, status_code: int = 200, notice: str = "",
              error: str = "") -> HTMLResponse:
        with self.db.reader() as session:
            subscriber = preferences.subscriber_of(session, self.signer, token)
            topics = self.ws.config.topic_names(self.pages.language(request, subscriber.language))
            shown = preferences.view(subscriber, topics, self.ws.config.newsletter.languages)
        return self.pages.render(request, "preferences", status_code, stored_language=shown.language,
                                 view=shown, notice=notice, error=error)

    async def preference_page(self, request: Request) -> Response:
        """GET shows the page; POST does the one action its button names. Once the token is
        verified, every answer is in the subscriber's stored language (after a change of language,
        the new one)."""
        token = request.path_params["token"]
        if request.method != "POST":
            return await run_in_threadpool(self._page, request, token)
        form = await request.form(**self.form_limits)
        action = str(form.get("action", ""))
        if action not in ACTIONS:
            return self.pages.render(request, "error", 400, title=N_("Bad request"),
                                     message=N_("This request did not say what to change; nothing was changed."))
        if action == "download":
            data = await run_in_threadpool(self._my_data, token)
            return Response(json.dumps(data, ensure_ascii=False, indent=2), media_type="application/json",
                            headers={**PAGE_HEADERS,
                                     "Content-Disposition": 'attachment; filename="my-data.json"'})
        if action == "erase":
            if form.get("confirm") != "yes":
                language = await run_in_threadpool(self._check, token)
                return self.pages.render(request, "erase_confirm", stored_language=language)
            language = await run_in_threadpool(self._erase, token)
            return self.pages.render(request, "erased", stored_language=language)
        if action == "address":
            return await self._request_address_change(request, token, str(form.get("email", "")))
        return await run_in_threadpool(self._change, request, token, action, form)

    def _check(self, token: str) -> str:
        """The stored language of the token's subscriber; BadToken when it is not theirs."""
        with self.db.reader() as session:
            return preferences.subscriber_of(session, self.signer, token).language

    def _my_data(self, token: str) -> dict:
        with self.db.reader() as session:
            subscriber = preferences.subscriber_of(session, self.signer, token)
            return preferences.my_data(self.ws, session, subscriber)

    def _erase(self, token: str) -> str:
        """Erase the token's subscriber; the language they had (the last page is in it)."""
        with self.db.erasing() as session:
            subscriber = preferences.subscriber_of(session, self.signer, token)
            language = subscriber.language
            preferences.erase(session, subscriber)
            return language

    def _change(self, request: Request, token: str, action: str, form) -> HTMLResponse:
        with self.db.session() as session:
            subscriber = preferences.subscriber_of(session, self.signer, token)
            stored = subscriber.language
            if action == "topics":
                preferences.choose_topics(session, subscriber, self.ws.config.offered_topics, form.getlist("topics"))
                notice = N_("Your topics are saved.")
            elif action == "language":
                try:
                    preferences.choose_edition(session, subscriber, str(form.get("language", "")),
                                               self.ws.config.newsletter.languages)
                except UnknownLanguage:
                    return self.pages.render(request, "error", 400, stored_language=stored,
                                             title=N_("Bad request"),
                                             message=N_("Please choose one of the languages listed."))
                notice = N_("Your language is saved: the next issue comes in it.")
            elif action == "pause":
                weeks = str(form.get("weeks", ""))
                if not weeks.isdigit() or int(weeks) not in preferences.PAUSE_WEEKS:
                    return self.pages.render(request, "error", 400, stored_language=stored,
                                             title=N_("Bad request"),
                                             message=N_("This pause is not offered; nothing was changed."))
                preferences.pause_for(session, subscriber, int(weeks))
                notice = N_("Your pause is saved: the issues start again by themselves when it ends.")
            elif action == "resume":
                preferences.resume_now(session, subscriber)
                notice = N_("Your pause has ended: you will get the next issue.")
            else:
                preferences.unsubscribe_here(session, subscriber)
                return self.pages.render(request, "unsubscribed", stored_language=stored,
                                         resubscribe_token=None)
        return self._page(request, token, notice=notice)

    async def _request_address_change(self, request: Request, token: str, typed: str) -> Response:
        try:
            change = await run_in_threadpool(self._address_change, token, typed)
        except BadToken:
            raise
        except GbaletterError as exc:
            log.info("address change refused: %s", exc)
            return await run_in_threadpool(
                self._page, request, token, 400, "",
                N_("This address cannot be used: it is not valid, already on the list, or cannot be mailed."))
        keys = limits.sign_up_keys(change.new_email, request.client.host if request.client else "")
        claim = await run_in_threadpool(limits.claim, self.db, keys, self.caps, utcnow())
        response = await run_in_threadpool(
            self._page, request, token, 200,
            N_("We sent a link to the new address: open it there to move your subscription."))
        if claim is not None:
            response.background = BackgroundTask(self._send_change, claim, change)
        return response

    def _address_change(self, token: str, typed: str) -> preferences.AddressChange:
        with self.db.reader() as session:
            subscriber = preferences.subscriber_of(session, self.signer, token)
            return preferences.request_address_change(session, self.signer, subscriber, typed)

    async def _send_change(self, claim: bytes, change: preferences.AddressChange) -> None:
        try:
            await send_address_change(self.ws, change)
        except GbaletterError as exc:
            log.warning("address change email not sent: %s", exc)
            await run_in_threadpool(limits.release, self.db, claim)

    async def address(self, request: Request) -> Response:
        """GET shows a button (mail scanners open links); POST moves the subscription."""
        token = request.path_params["token"]
        if request.method != "POST":
            new_email, stored = await run_in_threadpool(self._in_reader, preferences.address_change_offer, token)
            return self.pages.render(request, "address_confirm", stored_language=stored, new_email=new_email)
        try:
            old, new, subscriber_id, language = await run_in_threadpool(self._confirm_change, token)
        except BadToken:
            raise
        except GbaletterError:
            return self.pages.render(request, "error", 400, title=N_("Address not changed"), message=N_(
                "This address is already on the list or cannot be mailed; nothing was changed."))
        response = self.pages.render(request, "address_changed", stored_language=language, new_email=new,
                                     preferences_token=preferences_token(self.signer, subscriber_id, new))
        response.background = BackgroundTask(self._tell_old_address, old, language)
        return response

    def _in_reader(self, query, token: str):
        with self.db.reader() as session:
            return query(session, self.signer, token)

    def _confirm_change(self, token: str) -> tuple[str, str, int, str]:
        """(old address, new address, subscriber id, their language) once the move is made."""
        with self.db.session() as session:
            old, new, subscriber_id = preferences.confirm_address_change(session, self.signer, token)
            return old, new, subscriber_id, session.get_one(Subscriber, subscriber_id).language

    async def _tell_old_address(self, old: str, language: str) -> None:
        try:
            await send_address_changed_notice(self.ws, old, language)
        except GbaletterError as exc:  # the change stands; only the notice is lost
            log.warning("address change notice not sent: %s", exc)
