"""What every command needs: the workspace, opened once and only when a command asks for it."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import click

from ..config import Workspace, load_workspace


class AppContext:
    def __init__(self, root: Path | None):
        self._root = root

    @cached_property
    def workspace(self) -> Workspace:
        return load_workspace(self._root)


pass_app = click.make_pass_decorator(AppContext)
