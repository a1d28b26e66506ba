"""Subscribers' updated and status-changed times stay empty until the first change.

A fresh row then stores one timestamp, not three (a million-row import formats a million fewer
dates twice over). Downgrading fills them with the creation time.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("updated_at", "status_changed_at")


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch_op:
        for column in COLUMNS:
            batch_op.alter_column(column, existing_type=sa.DateTime(), nullable=True)


def downgrade() -> None:
    subscribers = sa.table("subscribers", sa.column("created_at"),
                           *(sa.column(column) for column in COLUMNS))
    for column in COLUMNS:
        op.execute(subscribers.update().where(subscribers.c[column].is_(None))
                   .values({column: subscribers.c.created_at}))
    with op.batch_alter_table("subscribers") as batch_op:
        for column in COLUMNS:
            batch_op.alter_column(column, existing_type=sa.DateTime(), nullable=False)
