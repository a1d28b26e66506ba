"""Which database the suite runs on, and a fresh one for every test.

By default every test's workspace has its own SQLite file. With
`GBALETTER_TEST_DATABASE_URL=postgresql+psycopg://...` (e.g. from `scripts/postgres start`) every
test gets an empty database of its own on that server instead, and the workspace reaches it
through GBALETTER_DATABASE_URL, as an operator's would (subprocesses inherit it).

"A database of its own" is a schema of its own in the URL's database, first on the connections'
search_path (`?options=-csearch_path=...`): CREATE SCHEMA takes a millisecond, CREATE DATABASE
copies 7.5 MB of catalogs (0.02-0.7 s on a busy machine, for each of ~400 tests). Its connections
carry the schema's name as application_name, so that dropping it can end those a test left open.

Tests about SQLite itself (its files, pragmas) are marked `@pytest.mark.sqlite_only` and skipped
on PostgreSQL. Tests about PostgreSQL itself use the `postgres` fixture: the suite's server, or on
a SQLite run a private cluster started with scripts/postgres for the session.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import URL, make_url

from support.programs import program_missing
from support.workspace import REPO

TEST_URL_VARIABLE = "GBALETTER_TEST_DATABASE_URL"
_names = itertools.count(1)


def suite_url() -> URL | None:
    """The PostgreSQL server the suite runs on, if it runs on one."""
    value = os.environ.get(TEST_URL_VARIABLE)
    return make_url(value) if value else None


@dataclass
class PostgresServer:
    """A PostgreSQL server on which tests create (and drop) empty databases of their own."""

    url: URL  # the database that holds the tests' schemas

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(host=self.url.host, port=self.url.port, user=self.url.username,
                               password=self.url.password, dbname=self.url.database, autocommit=True)

    def create_database(self) -> str:
        """The URL of a new, empty schema that its connections see as their whole database."""
        name = f"gbaletter_test_{os.getpid()}_{next(_names)}"
        with self._admin() as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            admin.execute(f'CREATE SCHEMA "{name}"')
        url = self.url.update_query_dict({"options": f"-csearch_path={name}", "application_name": name})
        return url.render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        """Drop it, ending whatever connections a test left open to it first."""
        name = make_url(url).query["application_name"]
        with self._admin() as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = %s AND pid <> pg_backend_pid()", (name,))
            admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The suite's PostgreSQL server; on a SQLite run, a private cluster for this session."""
    url = suite_url()
    if url is not None:
        yield PostgresServer(url)
        return
    if shutil.which("pg_ctl") is None and not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        program_missing("PostgreSQL is not installed (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="gbaletter-postgres-"))
    script = str(REPO / "scripts" / "postgres")
    try:
        started = subprocess.run([script, "start", "--dir", str(folder), "--port", "0", "--no-fsync"],
                                 capture_output=True, text=True, check=False)
        if started.returncode:
            pytest.fail(f"scripts/postgres start: {started.stderr.strip()}", pytrace=False)
        yield PostgresServer(make_url(started.stdout.strip()))
    finally:
        subprocess.run([script, "stop", "--dir", str(folder)], capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture
def other_database(tmp_path: Path) -> Iterator[str]:
    """The URL of one more empty database of the kind the suite runs on (for a second workspace)."""
    url = suite_url()
    if url is None:
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    server = PostgresServer(url)
    database = server.create_database()
    yield database
    server.drop_database(database)


@pytest.fixture(autouse=True)
def suite_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """On a PostgreSQL run: a fresh database for this test, as the workspaces' database."""
    url = suite_url()
    if url is None:
        yield
        return
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("about SQLite itself")
    server = PostgresServer(url)
    database = server.create_database()
    monkeypatch.setenv("GBALETTER_DATABASE_URL", database)
    yield
    server.drop_database(database)
