"""One-click unsubscribes arriving together over real HTTP: committed in shared transactions,
each answered only after its commit, repeats harmless, one event per person."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import event, func, select

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.delivery.effects import Cause
from gbaletter.links import UNSUBSCRIBE, signer_for
from gbaletter.subscribers.models import Status, Subscriber, SubscriberEvent, Suppression
from gbaletter.subscribers.service import add_subscriber
from gbaletter.web.app import create_app
from gbaletter.web.subscription import UnsubscribeLink, unsubscribe_many
from support.smtp_server import free_port
from support.web_server import serving
from support.workspace import TEST_SECRET


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


def test_a_batch_of_unsubscribes_is_a_handful_of_statements_however_many_it_holds(workspace, monkeypatch):
    """The list's write lock is held while a batch runs: it reads the subscribers and their
    suppression entries in one query each, not one look-up per POST (on PostgreSQL a round trip
    each, with the lock held), and flushes the changes once at the end."""
    db = open_database(workspace)
    with db.session() as session:
        ids = [add_subscriber(session, f"r{n}@example.com").id for n in range(40)]
        add_subscriber(session, "gone@example.com", status=Status.UNSUBSCRIBED)  # suppressed already
    with db.reader() as session:
        gone = session.scalar(select(Subscriber.id).where(Subscriber.email == "gone@example.com"))
    monkeypatch.setenv("GBALETTER_SECRET", TEST_SECRET)
    signer = signer_for(workspace)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda _c, _cursor, statement, *_: statements.append(statement))
    with db.session() as session:
        offers = unsubscribe_many(session, signer, [(UnsubscribeLink(i, "2019-W26"), Cause.ONE_CLICK, "test")
                                                    for i in [*ids, gone, ids[0]]])
    assert all(offers[:40]) and offers[40] is not None  # the suppressed one is offered the undo too
    reads = [statement for statement in map(str.split, statements) if statement[0] == "SELECT" and "FROM" in statement]
    assert len(reads) == 2, reads  # the subscribers, their suppression entries
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 41
        assert session.scalar(select(func.count()).select_from(SubscriberEvent)) == 40
    db.dispose()
