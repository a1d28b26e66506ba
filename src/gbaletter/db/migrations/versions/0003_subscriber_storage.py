"""Address hashes as 32 bytes instead of 64 hex characters (subscribers and suppressions).

The unique index on the hash takes keys in random order, and at a million subscribers the hex
index no longer fits SQLite's page cache: imports were 1.5x slower.

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

HASHED = (("subscribers", "id"), ("suppressions", "email_hash"))


def _convert_hashes(convert) -> None:
    """Rewrite every hash with `convert`; PostgreSQL converts in ALTER ... USING instead."""
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        return
    for table_name, key in HASHED:
        table = sa.table(table_name, sa.column(key), sa.column("email_hash"))
        rows = connection.execute(sa.select(table.c[key], table.c.email_hash)).all()
        if rows:
            connection.execute(table.update().where(table.c[key] == sa.bindparam("old_key"))
                               .values(email_hash=sa.bindparam("new_hash")),
                               [{"old_key": row[0], "new_hash": convert(row[1])} for row in rows])


def _from_hex(value):
    return bytes.fromhex(value if isinstance(value, str) else value.decode("ascii"))


def upgrade() -> None:
    for table_name, _ in HASHED:
        with op.batch_alter_table(table_name) as batch_op:
            batch_op.alter_column("email_hash", existing_type=sa.String(length=64),
                                  type_=sa.LargeBinary(length=32),
                                  postgresql_using="decode(email_hash, 'hex')")
    _convert_hashes(_from_hex)


def downgrade() -> None:
    _convert_hashes(lambda value: value.hex())
    for table_name, _ in HASHED:
        with op.batch_alter_table(table_name) as batch_op:
            batch_op.alter_column("email_hash", existing_type=sa.LargeBinary(length=32),
                                  type_=sa.String(length=64),
                                  postgresql_using="encode(email_hash, 'hex')")
