"""The click redirect and the open image: read the signed delivery token, look the link up in the
issue's link table, hand the event to the recorder, answer at once.

Only a URL from `issue_links` is ever redirected to, so no request can make the server an open
redirect; a forged token, an unknown issue or an unknown link id gets the 404 page and no Location.
"""

from __future__ import annotations

import base64
import threading
from urllib.parse import quote

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..db import Database, utcnow
from ..delivery.models import IssueLink
from ..links import DELIVERY
from ..tokens import BadToken, Signer
from ..tracking.models import CLICK, OPEN
from ..tracking.recorder import Event, EventRecorder
from ..tracking.rules import agent_class

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
URL_SAFE = ":/?#[]@!$&'()*+,;=%~"  # reserved characters stay; anything else beyond ASCII is %-encoded
NO_STORE = {"cache-control": "no-store, private", "referrer-policy": "no-referrer"}


class LinkTargets:
    """issue id -> {link id: URL}, read from the database once per issue (again on a miss, when a
    widened send added links); only issues named by a valid token are ever looked up."""

    def __init__(self, db: Database):
        self.db = db
        self._issues: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def _load(self, issue_id: str) -> dict[str, str]:
        with self.db.reader() as session:
            found: dict[str, str] = dict(session.execute(select(IssueLink.link_id, IssueLink.url)
                                         .where(IssueLink.issue_id == issue_id)).all())
        with self._lock:
            self._issues[issue_id] = found
        return found

    async def target(self, issue_id: str, link_id: str) -> str | None:
        links = self._issues.get(issue_id)
        if links is None or link_id not in links:
            links = await run_in_threadpool(self._load, issue_id)
        return links.get(link_id)


class Tracking:
    def __init__(self, db: Database, signer: Signer):
        self.signer = signer
        self.targets = LinkTargets(db)
        self.recorder = EventRecorder(db)

    def _delivery(self, token: str) -> tuple[int, str]:
        """(journal row id, issue id) of a valid delivery token; 404 otherwise (not 400: a
        forged link should look like no page at all)."""
        try:
            key, issue_id = self.signer.read(token, DELIVERY)
        except (BadToken, ValueError):
            raise HTTPException(404) from None
        if not key.isdigit():
            raise HTTPException(404)
        return int(key), issue_id

    def _record(self, request: Request, kind: str, delivery: int, issue_id: str, link_id: str) -> None:
        self.recorder.record(Event(issue_id, kind, link_id, delivery, utcnow(), request.method,
                                   agent_class(request.headers.get("user-agent", ""))))

    async def click(self, request: Request) -> Response:
        delivery, issue_id = self._delivery(request.path_params["token"])
        link_id = request.path_params["link_id"]
        url = await self.targets.target(issue_id, link_id)
        if url is None:
            raise HTTPException(404)
        self._record(request, CLICK, delivery, issue_id, link_id)
        return Response(status_code=302, headers={"location": quote(url, safe=URL_SAFE), **NO_STORE})

    async def open(self, request: Request) -> Response:
        delivery, issue_id = self._delivery(request.path_params["token"])
        self._record(request, OPEN, delivery, issue_id, "")
        return Response(PIXEL, media_type="image/gif", headers=NO_STORE)
