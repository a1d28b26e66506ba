"""A built issue read back from `issues/<ID>/build/`: what `check`, `screenshot` and `preview` look at.

The build keeps subscriber values as placeholders; `sample_html` and `sample_text` fill them with
harmless sample values (reserved example.org addresses), never with a real subscriber's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .. import placeholders
from ..config import Workspace
from ..errors import GbaletterError
from .manifest import Manifest, load_manifest
from .render import BUILD_INFO, Contents, inputs_digest, resolve

DESKTOP_WIDTH = 600  # the email's own width (mj-body)
PHONE_WIDTH = 375    # a common phone's width in CSS pixels
SAMPLE_VALUES = {
    "name": "Sam Reader",
    "email": "reader@example.org",
    "unsubscribe_url": "https://example.org/preview/unsubscribe",
    "view_url": "https://example.org/preview/view",
}


def fill_samples(text: str) -> str:
    """`text` with every placeholder replaced by its sample value (none needs HTML escaping)."""
    return placeholders.PATTERN.sub(lambda match: SAMPLE_VALUES[match.group(1)], text)


@dataclass(frozen=True)
class BuiltIssue:
    issue_id: str
    folder: Path
    html: str
    text: str
    manifest: Manifest
    contents: Contents
    up_to_date: bool

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))

    def sample_html(self) -> str:
        return fill_samples(self.html)

    def sample_text(self) -> str:
        return fill_samples(self.text)


def current_inputs(ws: Workspace, issue_id: str) -> tuple[Manifest, Contents, str]:
    """The issue's manifest and content as they are now, and the digest a build of them records."""
    manifest = load_manifest(ws, issue_id)
    contents = resolve(ws, manifest)
    return manifest, contents, inputs_digest(ws, manifest, contents)


def recorded_inputs(ws: Workspace, issue_id: str) -> str | None:
    """The inputs digest of the existing build, or None when there is no readable build."""
    try:
        info = json.loads((ws.issue_dir(issue_id) / "build" / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info.get("inputs") if isinstance(info, dict) else None


def read_build(ws: Workspace, issue_id: str) -> BuiltIssue:
    """The build of `issue_id` with its manifest and content, and whether it is still current."""
    manifest, contents, digest = current_inputs(ws, issue_id)
    folder = ws.issue_dir(issue_id) / "build"
    recorded = recorded_inputs(ws, issue_id)
    try:
        html = (folder / "email.html").read_text(encoding="utf-8")
        text = (folder / "email.txt").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        recorded = None
    if recorded is None:
        raise GbaletterError(f"issue {issue_id} has no complete build in {ws.display(folder)}: "
                             f"run `gbaletter issue build {issue_id}`")
    return BuiltIssue(issue_id, folder, html, text, manifest, contents, recorded == digest)


def require_current(ws: Workspace, built: BuiltIssue) -> BuiltIssue:
    """`built`, or an error when its inputs changed since: pictures of an old build mislead."""
    if not built.up_to_date:
        raise GbaletterError(f"{ws.display(built.folder)} is older than the issue's manifest, "
                             f"content or templates: run `gbaletter issue build {built.issue_id}` first")
    return built
