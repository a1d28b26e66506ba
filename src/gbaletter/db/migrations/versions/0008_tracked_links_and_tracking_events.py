"""Click tracking: each sent issue's tracked links, and the clicks and opens `serve` records.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:52:40.090036
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('issue_links',
    sa.Column('issue_id', sa.String(length=64), nullable=False),
    sa.Column('link_id', sa.String(length=16), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('section', sa.String(length=16), nullable=False),
    sa.Column('story', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('issue_id', 'link_id', name=op.f('pk_issue_links'))
    )
    op.create_table('tracking_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=5), nullable=False),
    sa.Column('link_id', sa.String(length=16), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('clicker', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('method', sa.String(length=4), nullable=False),
    sa.Column('agent', sa.String(length=24), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'],
                            name=op.f('fk_tracking_events_delivery_id_deliveries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'],
                            name=op.f('fk_tracking_events_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracking_events'))
    )
    with op.batch_alter_table('tracking_events', schema=None) as batch_op:
        batch_op.create_index('ix_tracking_events_issue_kind_clicker', ['issue_id', 'kind', 'clicker'], unique=False)
        batch_op.create_index(batch_op.f('ix_tracking_events_subscriber_id'), ['subscriber_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tracking_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tracking_events_subscriber_id'))
        batch_op.drop_index('ix_tracking_events_issue_kind_clicker')

    op.drop_table('tracking_events')
    op.drop_table('issue_links')
