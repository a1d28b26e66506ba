"""How the subscriber, segment and database commands print: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import click

from .context import AppContext

if TYPE_CHECKING:
    from rich.console import Console

    from ..db import Database


def database(app: AppContext) -> Database:
    from ..db import open_database

    return open_database(app.workspace)


def actor() -> str:
    """Who runs this command, for the subscriber history."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def console() -> Console:
    from rich.console import Console

    # Unbounded width when piped, so no row is wrapped or cut.
    return Console(width=None if Console().is_terminal else 200, highlight=False)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        # as plain text: a value from outside (a bounce's diagnostic in a history) must not be
        # read as rich markup ("[link=...]" would become a terminal hyperlink)
        table.add_row(*(Text(cell) for cell in row))
    console().print(table)


def print_fields(fields: Sequence[tuple[str, str]]) -> None:
    """`label  value` lines, aligned."""
    width = max(len(label) for label, _ in fields)
    for label, value in fields:
        click.echo(f"{label:<{width}}  {value}")


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def counted(number: int, noun: str, plural: str = "") -> str:
    """`1 member`, `2,345 members`; `plural` where adding an s is wrong (`entries`)."""
    return f"{number:,} " + (noun if number == 1 else plural or noun + "s")


def local_time(moment: datetime, tz: tzinfo) -> str:
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"


_WEEK_ID = re.compile(r"(\d{4})-[wW](\d{1,2})")


def week_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An issue id or ISO week as written the one way: `2019-w26` and `2019-W6` are `2019-W26`
    and `2019-W06` (an issue made from a week is named by it)."""
    match = _WEEK_ID.fullmatch(value.strip()) if value else None
    return f"{match.group(1)}-W{int(match.group(2)):02d}" if match else value


def json_option(function):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(function)


def selection_options(function):
    """--segment NAME or --where EXPR: which subscribers a command works on."""
    function = click.option("--where", metavar="EXPR",
                            help='A segment expression, e.g. \'tag:technology and attr.lang = "en"\'.'
                            )(function)
    return click.option("--segment", metavar="NAME", help="A saved segment.")(function)


def selection(segment: str | None, where: str | None) -> str | None:
    if segment and where:
        raise click.UsageError("give --segment or --where, not both")
    return segment or where

