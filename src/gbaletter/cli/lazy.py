"""How the CLI stays fast to start: command modules load lazily, and load nothing heavy themselves.

Two rules, checked for every command by tests/test_startup.py (a new command is checked too):

1. A group names its subcommands in `lazy` ("name" -> "module:attribute") when they live in
   another module; that module is imported only when the command runs or its help is shown.
2. A command module imports, at its top, only click, the standard library and `cli/` helpers
   (`context`, `lazy`, `output`), and the core only under `if TYPE_CHECKING:` for annotations.
   What a command runs (the core, rich) is imported in the command's function body, so
   `gbaletter --help` and `gbaletter <command> --help` load neither SQLAlchemy nor the build stack
   (~1.3 s and 130 MB before this rule; see docs/benchmarks.md).
"""

from __future__ import annotations

import difflib
import importlib

import click


class LazyGroup(click.Group):
    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}  # command name -> "module:attribute"

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            module, attribute = self.lazy[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        """Click's, plus the nearest command names when the name is unknown (a typo)."""
        name = args[0] if args else ""
        if args and self.get_command(ctx, name) is None and not name.startswith("-"):
            near = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.6)
            if near:
                ctx.fail(f"No such command {name!r}. Did you mean "
                         f"{' or '.join(repr(n) for n in near)}?")
        return super().resolve_command(ctx, args)
