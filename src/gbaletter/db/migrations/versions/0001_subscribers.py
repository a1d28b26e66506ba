"""Subscribers, tags, status events, the suppression list and saved segments.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = ("unconfirmed", "active", "unsubscribed", "bounced", "complained")


def status(name: str) -> sa.Enum:
    return sa.Enum(*STATUSES, name=name, native_enum=False, create_constraint=True)


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", status("status"), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("consent_source", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("email_hash", name=op.f("uq_subscribers_email_hash")),
    )
    op.create_table(
        "suppressions",
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("email_hash", name=op.f("pk_suppressions")),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "subscriber_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("old_status", status("old_status"), nullable=False),
        sa.Column("new_status", status("new_status"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE",
                                name=op.f("fk_subscriber_events_subscriber_id_subscribers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber_events")),
    )
    op.create_index(op.f("ix_subscriber_events_subscriber_id"), "subscriber_events",
                    ["subscriber_id"])
    op.create_table(
        "subscriber_tags",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE",
                                name=op.f("fk_subscriber_tags_subscriber_id_subscribers")),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], ondelete="CASCADE",
                                name=op.f("fk_subscriber_tags_tag_id_tags")),
        sa.PrimaryKeyConstraint("subscriber_id", "tag_id", name=op.f("pk_subscriber_tags")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_subscriber_tags_tag_id_subscriber_id", "subscriber_tags",
                    ["tag_id", "subscriber_id"])


def downgrade() -> None:
    op.drop_table("subscriber_tags")
    op.drop_table("subscriber_events")
    op.drop_table("tags")
    op.drop_table("suppressions")
    op.drop_table("subscribers")
    op.drop_table("segments")
