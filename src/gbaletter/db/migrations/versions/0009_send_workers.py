"""Several senders on one send: leases on journal rows, and the workers of each send.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_workers")),
    )
    op.create_index(op.f("ix_send_workers_issue_id"), "send_workers", ["issue_id"])
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("worker", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("worker")
    op.drop_index(op.f("ix_send_workers_issue_id"), table_name="send_workers")
    op.drop_table("send_workers")
