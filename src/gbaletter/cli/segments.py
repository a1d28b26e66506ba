"""`gbaletter segments ...`: named, saved filters over the subscriber list (docs/segments.md)."""

from __future__ import annotations

import click

from .lazy import LazyGroup
from .context import AppContext, pass_app
from .output import (counted, database, json_option, local_time, print_fields, print_json,
                     print_table)


@click.group("segments", cls=LazyGroup)
def group() -> None:
    """Saved segments: who an issue is sent to."""


@group.command("add")
@click.argument("name")
@click.argument("expression")
@click.option("--replace", is_flag=True, help="Change the expression of an existing segment.")
@pass_app
def add(app: AppContext, name: str, expression: str, replace: bool) -> None:
    """Save EXPRESSION as segment NAME, e.g. segments add tech 'tag:technology'."""
    from ..subscribers.segments import count_members, save_segment, segment_filter

    with database(app).session() as session:
        save_segment(session, name, expression, replace=replace)
        count = count_members(session, segment_filter(session, name, include_suppressed=True))
    click.echo(f"saved {name}: {counted(count, 'member')}")


@group.command("list")
@json_option
@pass_app
def list_command(app: AppContext, as_json: bool) -> None:
    """Every saved segment with its number of members."""
    from ..subscribers.segments import count_members, list_segments, segment_filter

    with database(app).reader() as session:
        rows = [(segment.name, segment.expression,
                 count_members(session, segment_filter(session, segment.name,
                                                       include_suppressed=True)))
                for segment in list_segments(session)]
    if as_json:
        print_json([{"name": name, "expression": expression, "members": count}
                    for name, expression, count in rows])
        return
    print_table(("name", "members", "expression"),
                [(name, f"{count:,}", expression) for name, expression, count in rows])


@group.command("show")
@click.argument("name")
@json_option
@pass_app
def show(app: AppContext, name: str, as_json: bool) -> None:
    """One segment: its expression, its members and who may be mailed."""
    from ..subscribers.segments import count_members, require_segment, segment_filter

    tz = app.workspace.tz
    with database(app).reader() as session:
        segment = require_segment(session, name)
        members = count_members(session, segment_filter(session, name, include_suppressed=True))
        mailable = count_members(session, segment_filter(session, name))
    if as_json:
        print_json({"name": segment.name, "expression": segment.expression, "members": members,
                    "mailable": mailable, "created_at": segment.created_at.isoformat(),
                    "updated_at": segment.updated_at.isoformat()})
        return
    print_fields([("name", segment.name), ("expression", segment.expression),
                  ("members", f"{members:,}"), ("mailable", f"{mailable:,} (not suppressed)"),
                  ("created", local_time(segment.created_at, tz)),
                  ("changed", local_time(segment.updated_at, tz))])


@group.command("remove")
@click.argument("name")
@pass_app
def remove(app: AppContext, name: str) -> None:
    """Delete a saved segment (subscribers are not touched)."""
    from ..subscribers.segments import remove_segment

    with database(app).session() as session:
        remove_segment(session, name)
    click.echo(f"removed segment {name}")
