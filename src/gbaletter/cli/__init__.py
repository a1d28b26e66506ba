"""The `gbaletter` command: parses arguments, calls the core, prints results. Nothing else.

Every `GbaletterError` from the core becomes one `error:` line per problem and a non-zero exit;
Ctrl-C becomes exit 130 without a traceback.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import GbaletterError
from .context import AppContext
from .lazy import LazyGroup

COMMANDS = {
    "init": "gbaletter.cli.workspace:init",
    "doctor": "gbaletter.cli.doctor:doctor",
    "posts": "gbaletter.cli.posts:group",
    "issue": "gbaletter.cli.issue:group",
    "subscribers": "gbaletter.cli.subscribers:group",
    "segments": "gbaletter.cli.segments:group",
    "db": "gbaletter.cli.db:group",
    "bounces": "gbaletter.cli.bounces:group",
    "serve": "gbaletter.cli.web:serve",
    "report": "gbaletter.cli.report:report",
    "scheduler": "gbaletter.cli.schedule:scheduler",
    "smtp-sink": "gbaletter.cli.send:smtp_sink",
}


class _Gbaletter(LazyGroup):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GbaletterError as exc:
            for line in str(exc).splitlines() or ["failed"]:
                click.echo(f"error: {line}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Gbaletter, lazy=COMMANDS)
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), envvar="GBALETTER_ROOT",
              help="Workspace folder (holds gbaletter.toml). Default: found from the current folder.")
@click.version_option(package_name="gbaletter")
@click.pass_context
def cli(ctx: click.Context, root: Path | None) -> None:
    """Build and send the weekly newsletter."""
    ctx.obj = AppContext(root)


def main() -> None:
    AppContext.own_process = True
    cli(prog_name="gbaletter")
