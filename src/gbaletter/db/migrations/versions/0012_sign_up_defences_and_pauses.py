"""The subscribe form's caps, and a subscriber's pause.

`confirmation_claims` replaces `confirmation_requests` (one row per address): each confirmation
email the form sends is counted under several keys (the exact address, the mailbox, the client's
network, the whole list) so that every `serve` worker keeps the same hourly caps. The rows are
short-lived, so none is carried over. `subscribers.paused_until`: sends skip a subscriber until then.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index(op.f("ix_confirmation_requests_requested_at"), table_name="confirmation_requests")
    op.drop_table("confirmation_requests")
    op.create_table(
        "confirmation_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("claim", sa.LargeBinary(length=16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmation_claims")),
    )
    op.create_index("ix_confirmation_claims_scope_key", "confirmation_claims", ["scope", "key"])
    op.create_index(op.f("ix_confirmation_claims_claim"), "confirmation_claims", ["claim"])
    op.create_index(op.f("ix_confirmation_claims_claimed_at"), "confirmation_claims", ["claimed_at"])
    with op.batch_alter_table("subscribers") as batch_op:
        batch_op.add_column(sa.Column("paused_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch_op:
        batch_op.drop_column("paused_until")
    op.drop_index(op.f("ix_confirmation_claims_claimed_at"), table_name="confirmation_claims")
    op.drop_index(op.f("ix_confirmation_claims_claim"), table_name="confirmation_claims")
    op.drop_index("ix_confirmation_claims_scope_key", table_name="confirmation_claims")
    op.drop_table("confirmation_claims")
    op.create_table(
        "confirmation_requests",
        sa.Column("email_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("email_hash", name=op.f("pk_confirmation_requests")),
    )
    op.create_index(op.f("ix_confirmation_requests_requested_at"), "confirmation_requests",
                    ["requested_at"])
