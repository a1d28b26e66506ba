"""One-click unsubscribes arriving together over real HTTP: committed in shared transactions,
each answered only after its commit, repeats harmless, one event per person."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.links import UNSUBSCRIBE, signer_for
from gbaletter.subscribers.models import Status, Subscriber, SubscriberEvent, Suppression
from gbaletter.subscribers.service import add_subscriber
from gbaletter.web.app import create_app
from support.smtp_server import free_port
from support.web_server import serving


def test_a_burst_of_one_click_posts_unsubscribes_everyone_once(sample_workspace, mail_env):
    ws = load_workspace(sample_workspace)
    db = open_database(ws)
    with db.session() as session:
        ids = [add_subscriber(session, f"r{n}@example.com").id for n in range(40)]
    signer = signer_for(ws)
    paths = [f"/u/{signer.make(UNSUBSCRIBE, i, '2019-W26')}" for i in ids] * 2  # every POST twice
    with serving(create_app(ws, db), free_port()) as url, httpx.Client(base_url=url, timeout=20) as http:
        def post(path):
            response = http.post(path, data={"List-Unsubscribe": "One-Click"})
            # answered after the commit: the page already offers the undo, which needs the new status
            return response.status_code, "resubscribe" in response.text

        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(post, paths))
    assert answers == [(200, True)] * len(paths)
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)
                              .where(Subscriber.status == Status.UNSUBSCRIBED)) == 40
        assert session.scalar(select(func.count()).select_from(SubscriberEvent)) == 40
        assert session.scalar(select(func.count()).select_from(Suppression)) == 40
    db.dispose()
