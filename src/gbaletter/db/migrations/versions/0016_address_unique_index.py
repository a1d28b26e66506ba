"""The address's uniqueness as a unique index of its own, `ix_subscribers_email_hash`.

It was `UNIQUE (email_hash)` in `CREATE TABLE subscribers`, which SQLite cannot drop. As an index
of its own, an import into an empty list drops it and builds it once after the rows
(subscribers/sqliteload.py): kept up to date row by row, its keys in random order, it was about
a third of SQLite's work in a million-row import (docs/benchmarks.md). What it enforces is
unchanged, and `ON CONFLICT (email_hash)` finds a unique index as it found the constraint.

SQLite rebuilds `subscribers` (batch mode): its triggers and other indexes (migration 0015's)
are dropped first and created again after, from their own SQL as it is in the file, and the
AUTOINCREMENT counter is carried over (the rebuilt table's would restart after the highest id
left, handing an erased subscriber's id out again: migration 0004).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

INDEX = "ix_subscribers_email_hash"
CONSTRAINT = "uq_subscribers_email_hash"


def _rebuild_sqlite(change: Callable[[BatchOperations], None]) -> None:
    bind = op.get_bind()
    kept = [(str(kind), str(name), str(sql)) for kind, name, sql in bind.execute(sa.text(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'subscribers' "
        "AND type IN ('trigger', 'index') AND sql IS NOT NULL AND name != :unique"),
        {"unique": INDEX})]
    counter = bind.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'subscribers'")).scalar()
    for kind, name, _ in kept:
        op.execute(f'DROP {kind.upper()} "{name}"')
    with op.batch_alter_table("subscribers", recreate="always",
                              table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        change(batch_op)
    for _, _, sql in kept:
        op.execute(sql)
    if counter is not None:
        op.execute(sa.text("UPDATE sqlite_sequence SET seq = max(seq, :seq) WHERE name = 'subscribers'")
                   .bindparams(seq=counter))


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(lambda batch_op: batch_op.drop_constraint(CONSTRAINT, type_="unique"))
        op.create_index(INDEX, "subscribers", ["email_hash"], unique=True)
    else:  # the index first: the addresses are unique throughout
        op.create_index(INDEX, "subscribers", ["email_hash"], unique=True)
        op.drop_constraint(CONSTRAINT, "subscribers", type_="unique")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index(INDEX, table_name="subscribers")
        _rebuild_sqlite(lambda batch_op: batch_op.create_unique_constraint(CONSTRAINT, ["email_hash"]))
    else:
        op.create_unique_constraint(CONSTRAINT, "subscribers", ["email_hash"])
        op.drop_index(INDEX, table_name="subscribers")
