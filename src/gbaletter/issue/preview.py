"""`issue preview`: a local page showing the issue at desktop and phone widths, light and dark,
with its text part and check findings, rebuilt whenever its manifest, content or templates change.

The server listens on 127.0.0.1 only and shows sample values in the placeholders; the email is
shown in sandboxed frames, with scripts forbidden, as mail clients would. The page asks
for /version every second; each request compares the inputs digest with the last one built, and
rebuilds when they differ. A build error is shown on the page and the server keeps running.
"""

from __future__ import annotations

import errno
import hashlib
import html
import re
import threading
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..config import Workspace
from ..links import image_url
from ..errors import GbaletterError
from .built import DESKTOP_WIDTH, PHONE_WIDTH, build_state, read_build
from .check import check_build
from .images import served_files
from .manifest import load_manifest, manifest_path
from .render import build_issue

HOST = "127.0.0.1"
POLL_MS = 1000
_SCHEME_QUERY = re.compile(r"\(\s*prefers-color-scheme\s*:\s*(dark|light)\s*\)", re.I)
FRAMES = (("Desktop", DESKTOP_WIDTH, "/email.html"), ("Phone", PHONE_WIDTH, "/email.html"),
          ("Desktop, dark", DESKTOP_WIDTH, "/email-dark.html"), ("Phone, dark", PHONE_WIDTH, "/email-dark.html"))


def as_dark(email_html: str) -> str:
    """The email as a client in dark mode that honours `prefers-color-scheme` shows it, whatever
    the scheme of the browser showing the preview (a frame cannot be given a scheme of its own):
    the dark media queries made to always apply, the light ones never."""
    return _SCHEME_QUERY.sub(lambda match: "all" if match.group(1).lower() == "dark" else "not all",
                             email_html)


class Preview:
    """The issue's latest build (or why it failed), brought up to date by `refresh`."""

    def __init__(self, ws: Workspace, issue_id: str, on_event: Callable[[str], None] = lambda _: None):
        self.ws = ws
        self.issue_id = issue_id
        self.on_event = on_event
        self.email_html = ""
        self.email_text = ""
        self.images: dict[str, Path] = {}  # the build's image files, served at /images/<name>
        self.findings: list[str] = []
        self.error = ""
        self.version = ""
        self._digest: str | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Rebuild if the inputs changed since the last look; cheap (one digest) when they did not."""
        with self._lock:
            try:
                state = build_state(self.ws, self.issue_id)
            except GbaletterError as exc:
                self._digest = None  # try again once the inputs are fixed, even back to the same
                self._show_error(str(exc))
                return
            if state.inputs == self._digest:
                return
            self._digest = state.inputs
            try:
                if not state.up_to_date:
                    build = build_issue(self.ws, self.issue_id)
                    self.on_event(f"rebuilt issue {self.issue_id} ({build.html_bytes / 1024:.1f} KB)")
                    state = replace(state, info=build.info)
                built = read_build(self.ws, self.issue_id, state)
                report = check_build(self.ws, built)
            except GbaletterError as exc:
                self._show_error(str(exc))
                return
            self.images = {url.rpartition("/")[2]: path for url, path in served_files(self.ws, built.folder).items()}
            self.email_html = built.sample_html().replace(image_url(self.ws, ""), "/images/")
            self.email_text = built.sample_text()
            self.findings = report.lines() or [report.summary()]
            self.error = ""
            self.version = state.inputs

    def _show_error(self, message: str) -> None:
        if message != self.error:
            self.on_event(f"build failed: {message}")
        self.error = message
        self.version = hashlib.sha256(message.encode()).hexdigest()

    def page(self) -> str:
        """The preview page: the error, or both widths in both schemes, then the text part."""
        if self.error:
            body = f'<h2>The issue does not build</h2><pre class="error">{html.escape(self.error)}</pre>'
        else:
            frames = "".join(
                f'<figure><figcaption>{label} ({width} px)</figcaption><iframe src="{path}" '
                f'width="{width}" sandbox="allow-same-origin" onload="fit(this)"></iframe></figure>'
                for label, width, path in FRAMES)
            findings = html.escape("\n".join(self.findings))
            body = (f'<div class="frames">{frames}</div><h2>Check</h2><pre>{findings}</pre>'
                    f'<h2>Text part</h2><pre>{html.escape(self.email_text)}</pre>')
        return _PAGE.format(issue=html.escape(self.issue_id), version=self.version, body=body,
                            poll=POLL_MS)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Preview of issue {issue}</title>
<style>
  body {{ font: 14px/1.4 system-ui, sans-serif; margin: 16px; background: #f4f4f4; color: #222; }}
  .frames {{ display: flex; gap: 24px; align-items: flex-start; flex-wrap: wrap; }}
  figure {{ margin: 0; }} figcaption {{ color: #666; margin-bottom: 4px; }}
  iframe {{ border: 1px solid #ccc; background: #fff; height: 600px; }}
  pre {{ background: #fff; border: 1px solid #ccc; padding: 12px; max-width: 80ch; white-space: pre-wrap; }}
  .error {{ border-color: #c00; color: #900; }}
</style></head>
<body><h1>Issue {issue}</h1>{body}
<script>
  function fit(frame) {{ frame.style.height = frame.contentDocument.documentElement.scrollHeight + "px"; }}
  setInterval(async () => {{
    try {{
      const response = await fetch("/version", {{cache: "no-store"}});
      if ((await response.text()) !== "{version}") location.reload();
    }} catch (error) {{ /* the server is restarting or stopped: keep the page */ }}
  }}, {poll});
</script></body></html>
"""


class _Handler(BaseHTTPRequestHandler):
    server: PreviewServer

    def do_GET(self) -> None:
        preview = self.server.preview
        preview.refresh()
        routes = {
            "/": ("text/html", preview.page, ""),
            "/version": ("text/plain", lambda: preview.version, ""),
            "/email.html": ("text/html", lambda: preview.email_html, "script-src 'none'"),
            "/email-dark.html": ("text/html", lambda: as_dark(preview.email_html), "script-src 'none'"),
            "/email.txt": ("text/plain", lambda: preview.email_text, ""),
        }
        path = self.path.split("?")[0]
        image = preview.images.get(path.removeprefix("/images/")) if path.startswith("/images/") else None
        if image is not None:
            try:
                data = image.read_bytes()
            except OSError:  # replaced by a rebuild this instant: the page reloads anyway
                self.send_error(404)
                return
            self._send("image/png" if image.suffix == ".png" else "image/jpeg", data, "")
            return
        if path not in routes:
            self.send_error(404)
            return
        kind, content, policy = routes[path]
        self._send(f"{kind}; charset=utf-8", content().encode("utf-8"), policy)

    def _send(self, content_type: str, data: bytes, policy: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if policy:
            self.send_header("Content-Security-Policy", policy)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the page polls every second."""


class PreviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, preview: Preview, port: int):
        self.preview = preview
        try:
            super().__init__((HOST, port), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise GbaletterError(f"port {port} on {HOST} is in use: pass another --port") from None
            raise GbaletterError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


def open_preview(ws: Workspace, issue_id: str, port: int = 8000,
                 on_event: Callable[[str], None] = lambda _: None) -> PreviewServer:
    """A preview server for `issue_id`, built once and listening; call `serve_forever()` on it.

    A broken manifest or post is shown on the page, to be fixed while watching; an issue that
    does not exist at all is an error here.
    """
    if not manifest_path(ws, issue_id).is_file():
        load_manifest(ws, issue_id)  # raises the usual "no issue ..." error
    preview = Preview(ws, issue_id, on_event)
    preview.refresh()
    return PreviewServer(preview, port)
