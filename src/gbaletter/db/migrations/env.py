"""Alembic environment: runs on the connection gbaletter hands over (see gbaletter.db.migrate)."""

from alembic import context

from gbaletter.db.base import UtcDateTime
from gbaletter.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through gbaletter (`gbaletter db upgrade`), not alembic")


def render_item(kind, obj, autogen_context):
    """Write plain SQLAlchemy types into migrations, so they never import application code."""
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime()"
    return False


# render_as_batch: SQLite cannot ALTER most things; batch mode copies the table instead.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True, render_item=render_item)
with context.begin_transaction():
    context.run_migrations()
