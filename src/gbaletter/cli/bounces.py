"""`gbaletter bounces process`: read the bounce mailbox once (or keep watching it).

Exit codes (for cron and systemd timers): 0 every message was understood; 3 some messages were
left in the mailbox (listed, one line each); 1 an error (mailbox missing, login refused, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .lazy import LazyGroup
from .context import AppContext, pass_app
from .output import counted

if TYPE_CHECKING:
    from ..feedback.process import RunSummary

EXIT_LEFT = 3
# a run reads each journal and subscriber row about once: a small page cache keeps it flat
CACHE_MIB = 8


@click.group("bounces", cls=LazyGroup)
def group() -> None:
    """Bounces, complaints and mailed unsubscribes (the [bounces] mailbox)."""


def _report(summary: RunSummary) -> None:
    kinds = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in sorted(summary.counts.items()))
    click.echo(f"{counted(sum(summary.counts.values()), 'message')} read"
               + (f": {kinds}" if kinds else "")
               + (f" ({summary.already} already recorded, moved only)" if summary.already else ""))
    if summary.unverified:
        click.echo(f"{counted(summary.unverified, 'unverified finding')}: recorded, nobody changed "
                   "(`issue status` lists them; docs/bounces.md)")
    _lines("changed ", summary.changes, summary.more["changes"])
    _lines("note: ", summary.notes, summary.more["notes"])
    _lines("left in the mailbox: ", [f"{o.name}: {o.line}" for o in summary.left], summary.more["left"],
           err=True)


def _lines(prefix: str, lines: list[str], more: int, err: bool = False) -> None:
    for line in lines:
        click.echo(prefix + line, err=err)
    if more:
        click.echo(f"{prefix}... and {more:,} more", err=err)


@group.command("process")
@click.option("--watch", is_flag=True, help="Keep running: IMAP IDLE, or polling a Maildir "
              "every [bounces] poll_seconds; Ctrl-C or SIGTERM stops.")
@pass_app
def process(app: AppContext, watch: bool) -> None:
    """Read the bounce mailbox: bounce, suppress or unsubscribe whom it names, move what was understood.

    Exit status: 0 every message was understood; 3 some were left in the mailbox (listed);
    1 an error (no mailbox, login refused, ...). See docs/bounces.md.
    """
    from ..db import open_database
    from ..feedback.mailbox import open_source
    from ..feedback.process import process_mailbox
    from ..interrupts import StopRequest

    ws = app.workspace
    db = open_database(ws, cache_mib=CACHE_MIB)
    source = open_source(ws)
    # the first Ctrl-C or SIGTERM: the batch being recorded is finished, or the wait cut short;
    # the command ends as interrupted (130) once the mailbox is closed
    with StopRequest() as stopping:
        try:
            while True:
                summary = process_mailbox(ws, db, source, stopping=stopping)
                _report(summary)
                stopping.check()
                if not watch:
                    break
                with stopping.waiting():
                    source.wait(ws.config.bounces.poll_seconds)
        finally:
            source.close()
    if summary.left or summary.more["left"]:
        raise SystemExit(EXIT_LEFT)
