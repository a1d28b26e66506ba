"""Every command has help text, every option too, and docs/commands.md lists every command with
the first line of its help (the way sqlite-utils keeps its CLI reference true)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click

from support.workspace import REPO

from gbaletter.cli import cli

COMMANDS_DOC = REPO / "docs" / "commands.md"


def commands(group: click.Group = cli, ctx: click.Context | None = None,
             path: tuple[str, ...] = ("gbaletter",)) -> Iterator[tuple[str, click.Command]]:
    """(full name, command) for every command and group, lazily loaded ones included."""
    ctx = ctx or click.Context(cli, info_name="gbaletter")
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"{' '.join(path)} lists '{name}' but cannot load it"
        yield " ".join((*path, name)), command
        if isinstance(command, click.Group):
            yield from commands(command, click.Context(command, parent=ctx, info_name=name), (*path, name))


def first_line(command: click.Command) -> str:
    return " ".join((command.help or "").split("\n\n")[0].split())


def documented() -> dict[str, str]:
    return dict(re.findall(r"^\| `(gbaletter[\w -]*)` \| (.*) \|$", COMMANDS_DOC.read_text(encoding="utf-8"), re.M))


def test_every_command_and_option_has_help():
    missing = [name for name, command in commands() if not first_line(command)]
    missing += [f"{name} {option.opts[0]}" for name, command in commands() for option in command.params
                if isinstance(option, click.Option) and not (option.help or "").strip()]
    assert missing == [], "no help text"


def test_every_command_is_in_the_docs_with_its_help():
    rows = documented()
    expected = {name: first_line(command) for name, command in commands()}
    wrong = [f"| `{name}` | {line} |" for name, line in expected.items() if rows.get(name) != line]
    assert wrong == [], f"{COMMANDS_DOC.relative_to(REPO)} needs these rows:\n" + "\n".join(wrong)
    assert sorted(set(rows) - set(expected)) == [], "documented commands that do not exist"


def test_the_walk_reaches_lazily_loaded_commands():
    names = {name for name, _ in commands()}
    assert {"gbaletter issue send", "gbaletter issue status", "gbaletter serve"} <= names
