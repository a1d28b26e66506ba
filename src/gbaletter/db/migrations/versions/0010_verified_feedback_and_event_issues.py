"""Verified feedback, and the issue each subscriber event is about.

`feedback_events.verified`: whether the report was proven to be about a message we sent (a valid
VERP token or our signed Message-ID). Rows recorded before this migration were all acted upon, so
they stay verified.

`subscriber_events.issue_id`: the issue a status change is about, so reports count unsubscribes
per issue from a column rather than by searching the free-text reason. Existing events are filled
in where their reason names an issue that was sent: "... (issue X)" from the sender, "... of issue
X" from the bounce processor, "... from issue X" from the web pages. An id that merely starts like
a sent issue ("special" within "special-2") is never taken for it: the longest sent issue id that
the reason names, followed by the end of a word, wins.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_NAMED = re.compile(r"\bissue (\S+)")
_PAGE = 1000


def issue_named(reason: str, sent: set[str]) -> str | None:
    """The sent issue a reason names ("(issue 2019-W26)", "of issue special-2;"), or None."""
    for match in _NAMED.finditer(reason):
        word = match.group(1)
        for end in range(len(word), 0, -1):  # the longest sent id the word starts with, whole
            candidate = word[:end]
            if candidate in sent and (end == len(word) or not re.match(r"[\w-]", word[end])):
                return candidate
    return None


def _fill_issue_ids() -> None:
    bind = op.get_bind()
    sent = {row[0] for row in bind.execute(sa.text("SELECT DISTINCT issue_id FROM sends"))}
    if not sent:
        return
    events = bind.execute(sa.text("SELECT id, reason FROM subscriber_events WHERE reason LIKE '%issue %'")).all()
    found = [{"b_id": key, "b_issue": issue} for key, reason in events
             if (issue := issue_named(str(reason or ""), sent)) is not None]
    for start in range(0, len(found), _PAGE):
        bind.execute(sa.text("UPDATE subscriber_events SET issue_id = :b_issue WHERE id = :b_id"),
                     found[start:start + _PAGE])


def upgrade() -> None:
    with op.batch_alter_table("feedback_events") as batch_op:
        batch_op.add_column(sa.Column("verified", sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table("subscriber_events") as batch_op:
        batch_op.add_column(sa.Column("issue_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_subscriber_events_issue_id"), ["issue_id"])
    _fill_issue_ids()


def downgrade() -> None:
    with op.batch_alter_table("subscriber_events") as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriber_events_issue_id"))
        batch_op.drop_column("issue_id")
    with op.batch_alter_table("feedback_events") as batch_op:
        batch_op.drop_column("verified")
