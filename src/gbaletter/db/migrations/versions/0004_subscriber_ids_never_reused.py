"""Subscriber ids are never reused (SQLite AUTOINCREMENT).

Unsubscribe links carry the subscriber's id. Without AUTOINCREMENT SQLite hands the highest id
out again once that row is deleted (an erased subscriber), so an old link of the erased person
could unsubscribe whoever got the id next. PostgreSQL's sequences never reuse ids: nothing to do.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("subscribers", recreate="always",
                              table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
