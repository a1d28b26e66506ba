"""The bench's reference: bare Starlette routes shaped like gbaletter's, served by uvicorn the way
`gbaletter serve` serves its app (same loop, parser and options, no access log), so the ratio
measures gbaletter.

    python -m bench.reference_app PORT
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

TARGET = "https://gba.example.org/2019/06/30/specialist-towns-credit/"


async def click(request: Request) -> Response:
    return Response(status_code=302, headers={"location": TARGET})


async def one_click(request: Request) -> Response:
    form = await request.form()
    return HTMLResponse(f"<!doctype html><p>{'done' if form.get('List-Unsubscribe') else 'no'}</p>")


app = Starlette(routes=[Route("/c/{token}/{link_id}", click, methods=["GET"]),
                        Route("/u/{token}", one_click, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), proxy_headers=False, server_header=False,
                access_log=False)
