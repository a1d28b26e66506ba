"""What every command needs: the workspace, opened once and only when a command asks for it."""

from __future__ import annotations

import gc
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..config import Workspace


class AppContext:
    # True when the process is the command's own (`gbaletter.cli.main`); False when another
    # program runs the CLI inside itself (the tests, through click's CliRunner).
    own_process = False

    def __init__(self, root: Path | None):
        self._root = root

    def defer_collections(self) -> None:
        """No garbage collection until `freeze_imports`: while a command imports what it needs,
        the collector only walks the new modules' objects again and again, finding next to no
        garbage (`issue send`: ~160 collections, ~7% of its start-up's instructions). Only in the
        command's own process, as `freeze_imports`."""
        if self.own_process:
            gc.disable()

    def freeze_imports(self) -> None:
        """Leave every object made so far, mostly the modules a one-shot command imported, out of
        the garbage collections to come (`gc.freeze`), and collect again (`defer_collections`):
        each full collection walked them all again, 4% of `issue build`'s instructions. Only in
        the command's own process, which ends with the command: in another program it would keep
        that program's uncollected cycles for good."""
        if self.own_process:
            gc.freeze()
            gc.enable()

    @cached_property
    def workspace(self) -> Workspace:
        from ..config import load_workspace

        return load_workspace(self._root)


pass_app = click.make_pass_decorator(AppContext)
