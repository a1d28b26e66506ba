"""`gbaletter serve`: uvicorn running the app, in one process or several.

Several worker processes share nothing but the database (the confirmation rate limit lives there
too). uvicorn starts each worker from an import string, so the workspace travels in
GBALETTER_ROOT. What could fail in every worker (no secret, a database that cannot be opened or
migrated) is checked once here first, so it is one clear line and not a traceback per worker.
Forwarded headers are handled by the app itself (`proxy.TrustedProxyHeaders`, from
`[web] trusted_proxies`), so uvicorn's own handling is off: one setting, not two.

uvicorn's access log is off unless asked for: its lines hold the client's address (personal
data, which the tracking docs promise is never stored) and the request's path, which carries the
signed token of an unsubscribe, confirm or click link: a credential, in whatever keeps the logs.
It also cost a third of the click redirect's throughput (docs/benchmarks.md).
"""

from __future__ import annotations

import os

from ..config import ROOT_ENV, Workspace
from ..db import open_database
from ..links import signer_for

APP_FACTORY = "gbaletter.web.app:app_from_environment"


def serve(ws: Workspace, host: str, port: int, workers: int = 1, access_log: bool = False) -> None:
    """Serve the subscriber pages until interrupted (Ctrl-C or SIGTERM: a graceful stop)."""
    import uvicorn  # imported here: the other commands do not need the web stack

    signer_for(ws)
    open_database(ws).dispose()  # migrated once, before the workers start
    os.environ[ROOT_ENV] = str(ws.root)
    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers,
                proxy_headers=False, server_header=False, access_log=access_log)
