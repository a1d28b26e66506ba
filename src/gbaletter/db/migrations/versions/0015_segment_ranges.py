"""Segments as index ranges: top-level attributes as `subscriber_attributes` entries kept by
triggers, and partial indexes on the subscribers who may not be mailed (not active, paused).

The entries are filled for the existing subscribers. Triggers rather than code: the import, the
CLI, the web pages and any later writer keep the entries in step without knowing of them. On
PostgreSQL inserts and deletes fire statement triggers over the changed rows (one INSERT ...
SELECT per import batch, not a function call per row), and only an UPDATE of `attributes`
that changes them fires the update trigger. A later migration that recreates `subscribers` on SQLite
(batch mode) must create the three triggers again (tests/test_segment_ranges.py notices).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# As subscribers/models.py: ATTRIBUTE_KEY_INDEXED, ATTRIBUTE_VALUE_INDEXED (a migration keeps
# its own copy: it must create what it created when it was written).
KEY_LENGTH, VALUE_LENGTH = 128, 256

# SQLite: json_each's value is what json_extract gives; as text, it is what segments compare.
_SQLITE_ENTRIES = f"""SELECT entry.key, CAST(entry.value AS TEXT), {{row}}.id
    FROM {{rows}}json_each({{row}}.attributes) AS entry
    WHERE entry.type != 'null' AND length(entry.key) <= {KEY_LENGTH}
      AND length(CAST(entry.value AS TEXT)) <= {VALUE_LENGTH}"""
_SQLITE_ADD = """INSERT OR IGNORE INTO subscriber_attributes (key, value, subscriber_id)
    {entries};"""
_SQLITE_REMOVE = """DELETE FROM subscriber_attributes WHERE subscriber_id = old.id AND (key, value) IN (
        SELECT entry.key, CAST(entry.value AS TEXT) FROM json_each(old.attributes) AS entry);"""
_SQLITE_NEW = _SQLITE_ADD.format(entries=_SQLITE_ENTRIES.format(row="new", rows=""))
_SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER subscriber_attributes_insert AFTER INSERT ON subscribers BEGIN
    {_SQLITE_NEW}
END""",
    f"""CREATE TRIGGER subscriber_attributes_update AFTER UPDATE OF attributes ON subscribers
WHEN old.attributes IS NOT new.attributes BEGIN
    {_SQLITE_REMOVE}
    {_SQLITE_NEW}
END""",
    f"""CREATE TRIGGER subscriber_attributes_delete AFTER DELETE ON subscribers BEGIN
    {_SQLITE_REMOVE}
END""",
)

# PostgreSQL: json_each_text gives what ->> gives. Inserts and deletes: statement triggers over
# the transition table (an import batch is one INSERT ... SELECT). Updates: a row trigger on the
# attributes column only, so the status changes of sends and unsubscribes never run it.
_PG_ENTRIES = f"""SELECT entry.key, entry.value, {{row}}.id
    FROM {{rows}}json_each_text({{row}}.attributes) AS entry
    WHERE entry.value IS NOT NULL AND length(entry.key) <= {KEY_LENGTH}
      AND length(entry.value) <= {VALUE_LENGTH}"""
_PG_ADD = """INSERT INTO subscriber_attributes (key, value, subscriber_id)
    {entries} ON CONFLICT DO NOTHING;"""
_PG_REMOVE = """DELETE FROM subscriber_attributes AS a USING ({entries}) AS gone(key, value, id)
    WHERE a.key = gone.key AND a.value = gone.value AND a.subscriber_id = gone.id;"""
_PG_TRIGGERS = {  # name: (when it fires, what it does)
    "subscriber_attributes_insert": (
        "INSERT ON subscribers REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
        _PG_ADD.format(entries=_PG_ENTRIES.format(row="n", rows="new_rows AS n CROSS JOIN LATERAL "))),
    "subscriber_attributes_update": (
        "UPDATE OF attributes ON subscribers FOR EACH ROW "
        "WHEN (OLD.attributes::text IS DISTINCT FROM NEW.attributes::text)",
        _PG_REMOVE.format(entries=_PG_ENTRIES.format(row="OLD", rows=""))
        + _PG_ADD.format(entries=_PG_ENTRIES.format(row="NEW", rows=""))),
    "subscriber_attributes_delete": (
        "DELETE ON subscribers REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
        _PG_REMOVE.format(entries=_PG_ENTRIES.format(row="o", rows="old_rows AS o CROSS JOIN LATERAL "))),
}


def upgrade() -> None:
    op.create_table(
        "subscriber_attributes",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "value", "subscriber_id", name=op.f("pk_subscriber_attributes")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_subscribers_not_active", "subscribers", ["status"],
                    sqlite_where=sa.text("status != 'active'"),
                    postgresql_where=sa.text("status != 'active'"))
    op.create_index("ix_subscribers_paused_until", "subscribers", ["paused_until"],
                    sqlite_where=sa.text("paused_until IS NOT NULL"),
                    postgresql_where=sa.text("paused_until IS NOT NULL"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_ADD.format(entries=_PG_ENTRIES.format(row="s", rows="subscribers AS s CROSS JOIN LATERAL ")
                                  + " ORDER BY 1, 2, 3"))
        for name, (fires, body) in _PG_TRIGGERS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                       f"BEGIN\n{body}\nRETURN NULL;\nEND $$")
            op.execute(f"CREATE TRIGGER {name} AFTER {fires} EXECUTE FUNCTION {name}()")
    else:
        op.execute(_SQLITE_ADD.format(entries=_SQLITE_ENTRIES.format(row="s", rows="subscribers AS s, ")
                                      + " ORDER BY 1, 2, 3"))
        for trigger in _SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    for name in _PG_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (
            " ON subscribers" if op.get_bind().dialect.name == "postgresql" else ""))
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_index("ix_subscribers_paused_until", table_name="subscribers")
    op.drop_index("ix_subscribers_not_active", table_name="subscribers")
    op.drop_table("subscriber_attributes")
