"""The confirmation rate limit moves from the web server's memory to the database.

So that several `serve --workers` processes share it (and a restart keeps it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('confirmation_requests',
    sa.Column('email_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('email_hash', name=op.f('pk_confirmation_requests'))
    )
    with op.batch_alter_table('confirmation_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_confirmation_requests_requested_at'), ['requested_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('confirmation_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_confirmation_requests_requested_at'))

    op.drop_table('confirmation_requests')
