"""The database every part of gbaletter stores rows in.

`Base` is the declarative base of every model; `open_database(workspace)` gives a `Database`
whose schema is migrated to the version this code expects. All SQL goes through SQLAlchemy so the
same code runs on SQLite (the default) and PostgreSQL.
"""

from .base import Base, UtcDateTime, utcnow
from .engine import Database, create_engine_for
from .migrate import open_database

__all__ = ["Base", "Database", "UtcDateTime", "create_engine_for", "open_database", "utcnow"]
