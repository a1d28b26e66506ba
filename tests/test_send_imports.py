"""A lean send (issue 21): `issue send` reads the build's files and recorded verdict, and loads
neither the build stack, nor the checker, nor Alembic when no migration is due; nor what its
memory does not need (docs/benchmarks.md): rich, Babel, the other database's SQLAlchemy dialect.

Each send runs in a new interpreter and `sys.modules` is read after it. Where the build cannot be
trusted from its files (built by an older gbaletter, or no check verdict for it) the send takes
the full way and decides the same, which these tests also show.
"""

from __future__ import annotations

import json

from gbaletter.config import load_workspace
from gbaletter.issue.render import build_issue
from support.imports import BUILD_STACK, CHECKER, loaded_from, modules_loaded
from support.sending import ISSUE, TECH_READERS

SEND = ["issue", "send", ISSUE, "--segment", "tag:technology"]


# Each ~2-3 MB of the send process's peak memory, none of them used by a send.
NOT_FOR_A_SEND = ("rich", "babel")
# What only a bounce needs (the subscriber service's address checks): ~40 ms of the start-up.
ONLY_FOR_A_BOUNCE = ("email_validator",)
# A send on SQLite loads no PostgreSQL dialect (~3 MB). The other way round, the models' SQLite
# table options (WITHOUT ROWID) load SQLite's, which is small.
OTHER_DIALECT = {"sqlite": ("sqlalchemy.dialects.postgresql",), "postgresql": ()}


def test_a_send_loads_no_build_stack_no_checker_and_no_alembic(newsletter, tmp_path):
    root, db, handler = newsletter
    modules = modules_loaded(["--root", str(root), *SEND], tmp_path)
    assert len(handler.received) == TECH_READERS
    other_dialect = OTHER_DIALECT[db.engine.dialect.name]
    assert loaded_from(modules, (*BUILD_STACK, *CHECKER, "alembic", *NOT_FOR_A_SEND, *ONLY_FOR_A_BOUNCE,
                                    *other_dialect)) == []
    assert "sqlalchemy" in modules and "aiosmtplib" in modules  # what it does use


def test_a_build_by_an_older_gbaletter_is_still_checked_and_sent(newsletter, tmp_path):
    """build.json without its list of inputs: the full freshness check, with the build stack."""
    root, _db, handler = newsletter
    info_file = root / "issues" / ISSUE / "build" / "build.json"
    info = json.loads(info_file.read_text(encoding="utf-8"))
    del info["files"]
    info_file.write_text(json.dumps(info), encoding="utf-8")
    modules = modules_loaded(["--root", str(root), *SEND], tmp_path)
    assert len(handler.received) == TECH_READERS
    assert {"jinja2", "gbaletter.issue.built"} <= set(loaded_from(modules, (*BUILD_STACK, *CHECKER)))


def test_without_a_recorded_verdict_the_send_runs_the_check(newsletter, run_cli):
    """A build made without its check (build_issue, not `issue build`) is checked at send time."""
    root, _db, handler = newsletter
    template = root / "templates" / "email" / "_footer.mjml.j2"
    template.parent.mkdir(parents=True, exist_ok=True)
    template.write_text("<mj-section><mj-column><mj-text>No way out.</mj-text></mj-column></mj-section>\n")
    build_issue(load_workspace(root), ISSUE)
    assert not (root / "issues" / ISSUE / "build" / "check.json").exists()
    refused = run_cli(root, *SEND)
    assert refused.exit_code == 1 and "check error" in refused.error_lines[0]
    assert "unsubscribe" in refused.stderr and handler.received == []
