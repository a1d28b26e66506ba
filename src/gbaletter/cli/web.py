"""`gbaletter serve`: the subscriber pages (subscribe, confirm, unsubscribe, archive) over HTTP."""

from __future__ import annotations

import click

from .context import AppContext, pass_app


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; put a TLS proxy in front for the public.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="Port to listen on.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes serving requests (they share the database).")
@click.option("--access-log", is_flag=True,
              help="Log every request to stderr (for debugging: the lines hold client addresses and "
                   "the links' signed tokens, so it is off by default).")
@pass_app
def serve(app: AppContext, host: str, port: int, workers: int, access_log: bool) -> None:
    """Serve the pages subscribers use: one-click unsubscribe, double opt-in, the web archive.

    They answer at the path of base_url (e.g. /newsletter/u/...) and at the root (/u/...), and
    /healthz tells a monitor whether the database answers. Needs GBALETTER_SECRET (the same as
    for sending: it signs the links in the emails). Deployment: docs/deploy.md.
    """
    from ..web.server import serve as run_server  # the web stack loads only for this command

    run_server(app.workspace, host, port, workers, access_log)
