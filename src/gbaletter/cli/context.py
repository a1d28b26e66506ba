"""What every command needs: the workspace, opened once and only when a command asks for it."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..config import Workspace


class AppContext:
    def __init__(self, root: Path | None):
        self._root = root

    @cached_property
    def workspace(self) -> Workspace:
        from ..config import load_workspace

        return load_workspace(self._root)


pass_app = click.make_pass_decorator(AppContext)
