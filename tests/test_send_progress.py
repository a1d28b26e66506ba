"""The send's progress bar as a terminal shows it, and a claimed batch of erased readers' rows."""

from __future__ import annotations

import io
import sys

from sqlalchemy import create_engine

from gbaletter.cli.send import _ProgressBar
from gbaletter.db.bulk import InLookup
from gbaletter.subscribers.models import Subscriber


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_draws_its_counts_in_a_terminal_from_the_start(monkeypatch):
    """In a terminal click draws the counts at once (not only the label, as in a pipe)."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = _ProgressBar()
    advance = bar.start(3)
    for state in ("sent", "sent", "bounced"):
        advance(state)
    bar.stop()
    assert "sent 2 failed 1" in terminal.getvalue()


def test_looking_up_no_keys_finds_nothing_without_a_statement(tmp_path):
    """A batch whose rows all lost their reader (erased) looks up no ids: an empty answer."""
    engine = create_engine(f"sqlite:///{tmp_path / 'list.db'}")
    Subscriber.__table__.create(engine)
    lookup = InLookup(engine.dialect, (Subscriber.__table__.c.id,), Subscriber.__table__.c.id)
    with engine.connect() as connection:
        assert lookup.fetch(connection, []) == []
