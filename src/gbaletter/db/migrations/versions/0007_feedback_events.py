"""Feedback events: every bounce, complaint, auto-reply and mailed unsubscribe read back.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.String(length=64), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("diagnostic", sa.Text(), nullable=False),
        sa.Column("reporting_mta", sa.Text(), nullable=False),
        sa.Column("arrived_at", sa.DateTime(), nullable=False),
        sa.Column("processed_at", sa.DateTime(), nullable=False),
        sa.Column("source_id", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"],
                                name=op.f("fk_feedback_events_delivery_id_deliveries"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_feedback_events_subscriber_id_subscribers"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_events")),
    )
    with op.batch_alter_table("feedback_events") as batch_op:
        batch_op.create_index("ix_feedback_events_issue_kind", ["issue_id", "kind"])
        batch_op.create_index("ix_feedback_events_subscriber_kind", ["subscriber_id", "kind"])
        batch_op.create_index(batch_op.f("ix_feedback_events_source_id"), ["source_id"])


def downgrade() -> None:
    op.drop_table("feedback_events")
