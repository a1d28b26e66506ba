"""The sample newsletter ready to send to a few subscribers, and helpers to send it and read the journal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.delivery import journal
from gbaletter.delivery.models import Delivery
from gbaletter.subscribers.models import Status, Subscriber
from gbaletter.subscribers.service import add_subscriber

ISSUE = "2019-W26"
TECH_READERS = 23  # the members of tag:technology that `newsletter` adds


@pytest.fixture(params=[True, False], ids=["pipelining", "one-command-at-a-time"])
def newsletter(request, sample_workspace, run_cli, mail_env):
    """The sample workspace, its issue built, a few subscribers, the SMTP server in the env;
    every test runs against a server with and without PIPELINING."""
    handler = mail_env
    handler.pipelining = request.param
    assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
    db = open_database(load_workspace(sample_workspace))
    with db.session() as session:
        add_subscriber(session, "chan@example.com", name="陈大文", tags=["technology"])
        add_subscriber(session, "ann@example.com", name='Ann "Quotes", Jr.', tags=["technology"])
        add_subscriber(session, "bob@example.com", tags=["technology", "finance"])
        for n in range(20):
            add_subscriber(session, f"reader{n}@example.org", name=f"Reader {n}", tags=["technology"])
        add_subscriber(session, "other@example.com", tags=["finance"])
        add_subscriber(session, "pending@example.com", tags=["technology"], status=Status.UNCONFIRMED)
    return sample_workspace, db, handler


def send(run_cli, root, *args):
    return run_cli(root, "issue", "send", ISSUE, "--segment", "tag:technology", *args)


def rows(db, issue=ISSUE):
    with db.reader() as session:
        return {email: (state, attempts, reply) for email, state, attempts, reply in session.execute(
            journal.select(Subscriber.email, Delivery.state, Delivery.attempts, Delivery.last_reply)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id).where(Delivery.issue_id == issue))}


def smtp_settings(root: Path, **values) -> None:
    """Set [smtp] keys in the workspace's gbaletter.toml (the breaker and its pauses, timeouts),
    replacing the ones the file has (the build stays current: it does not depend on [smtp])."""
    config = root / "gbaletter.toml"
    text = config.read_text(encoding="utf-8")
    for key in values:
        text = re.sub(rf"(?m)^{key} = .*\n", "", text)
    lines = "".join(f"{key} = {value}\n" for key, value in values.items())
    config.write_text(text.replace("[smtp]\n", "[smtp]\n" + lines, 1), encoding="utf-8")
