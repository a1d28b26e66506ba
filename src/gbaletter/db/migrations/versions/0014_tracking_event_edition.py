"""Editions in the reports: a tracking event keeps the edition of its journal row when the
issue's reporting window closes and the delivery id is dropped, so clicks and opens still count
by edition afterwards. NULL while the window is open (the journal row says) and for events
frozen before editions.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tracking_events") as batch_op:
        batch_op.add_column(sa.Column("edition", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tracking_events") as batch_op:
        batch_op.drop_column("edition")
