"""Alembic environment: runs on the connection gbaletter hands over (see gbaletter.db.migrate).

It imports the models of every layer that stores rows, which fills `Base.metadata` for
autogenerate to compare with the database. This file may know the whole application; the rest
of `db/` imports nothing above it. A new layer with tables adds its models module here
(tests/test_layers.py fails until it does).
"""

from alembic import context

# every layer's tables (imported for Base.metadata)
import gbaletter.delivery.models
import gbaletter.feedback.models
import gbaletter.schedule.models
import gbaletter.subscribers.models
import gbaletter.tracking.models
import gbaletter.web.models  # noqa: F401
from gbaletter.db.base import Base, UtcDateTime
from gbaletter.subscribers.models import declare_partial_indexes

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through gbaletter (`gbaletter db upgrade`), not alembic")


def render_item(kind, obj, autogen_context):
    """Write plain SQLAlchemy types into migrations, so they never import application code."""
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime()"
    return False


declare_partial_indexes()
# render_as_batch: SQLite cannot ALTER most things; batch mode copies the table instead.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True, render_item=render_item)
with context.begin_transaction():
    context.run_migrations()
