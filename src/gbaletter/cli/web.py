"""`gbaletter serve`: the subscriber pages (subscribe, confirm, unsubscribe, archive) over HTTP."""

from __future__ import annotations

import click

from .context import AppContext, pass_app


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; put a TLS proxy in front for the public.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="Port to listen on.")
@pass_app
def serve(app: AppContext, host: str, port: int) -> None:
    """Serve the pages subscribers use: one-click unsubscribe, double opt-in, the web archive.

    Needs GBALETTER_SECRET (the same as for sending: it signs the links in the emails).
    """
    import uvicorn  # imported here: the other commands do not need the web stack

    from ..web import create_app

    uvicorn.run(create_app(app.workspace), host=host, port=port, server_header=False)
