"""A built issue read back from `issues/<ID>/build/`: what `check`, `screenshot`, `preview` and
`send` look at, and the one check of whether a build is current (`build_state`).

The build keeps subscriber values as placeholders; `sample_html` and `sample_text` fill them with
harmless sample values (reserved example.org addresses), never with a real subscriber's.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import placeholders
from ..config import Workspace
from ..errors import GbaletterError
from .manifest import Manifest, load_manifest
from .recorded import BuildFiles, inputs_digest, read_info, read_texts
from .render import Build, Contents, input_files, resolve

DESKTOP_WIDTH = 800  # a desktop reading pane, wider than the email's own 600 px (mj-body)
PHONE_WIDTH = 375    # a common phone's width in CSS pixels
SAMPLE_VALUES = {
    "name": "Sam Reader",
    "email": "reader@example.org",
    "unsubscribe_url": "https://example.org/preview/unsubscribe",
    "preferences_url": "https://example.org/preview/preferences",
    "view_url": "https://example.org/preview/view",
}


def fill_samples(text: str) -> str:
    """`text` with every placeholder replaced by its sample value (none needs HTML escaping)."""
    return placeholders.PATTERN.sub(lambda match: SAMPLE_VALUES[match.group(1)], text)


@dataclass(frozen=True)
class BuiltIssue(BuildFiles):
    """A build with the manifest and content it was made from (what the checks point into)."""

    manifest: Manifest
    contents: Contents

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))

    def sample_html(self) -> str:
        return fill_samples(self.html)

    def sample_text(self) -> str:
        return fill_samples(self.text)


@dataclass(frozen=True)
class BuildState:
    """An issue's inputs as they are now, and what its last build recorded about them.

    The one freshness check: it loads the manifest and content and hashes every input once;
    whatever needs to know whether a build is current (send, check, screenshot, preview) takes it
    from here, and hands it on instead of hashing again.
    """

    issue_id: str
    manifest: Manifest
    contents: Contents
    inputs: str  # the digest a build of the inputs as they are now would record
    info: dict | None  # the last build's build.json, None when there is none readable

    @property
    def up_to_date(self) -> bool:
        return self.info is not None and self.info.get("inputs") == self.inputs


def build_state(ws: Workspace, issue_id: str) -> BuildState:
    """The state of `issue_id`'s build (an error only when its manifest or content is broken)."""
    manifest = load_manifest(ws, issue_id)
    contents = resolve(ws, manifest)
    return BuildState(issue_id, manifest, contents, inputs_digest(ws, input_files(ws, manifest, contents)),
                      read_info(ws.issue_dir(issue_id) / "build"))


def state_of(ws: Workspace, build: Build) -> BuildState:
    """The state of the build just made: its manifest and content as that build loaded them, so
    that checking it right after (`issue build`) does not load them again; the inputs are hashed
    again from the files, so an input saved while the build ran still makes it stale."""
    return BuildState(build.issue_id, build.manifest, build.contents,
                      inputs_digest(ws, input_files(ws, build.manifest, build.contents)), build.info)


def read_build(ws: Workspace, issue_id: str, state: BuildState | None = None) -> BuiltIssue:
    """The build of `issue_id` with its manifest and content, and whether it is still current.

    Pass the `state` already taken to read the files without hashing the inputs again.
    """
    state = state or build_state(ws, issue_id)
    folder = ws.issue_dir(issue_id) / "build"
    html, text = read_texts(ws, issue_id, folder, state.info)
    assert state.info is not None  # read_texts refuses a build without one
    return BuiltIssue(issue_id=issue_id, folder=folder, html=html, text=text, info=state.info,
                      up_to_date=state.up_to_date, manifest=state.manifest, contents=state.contents)


def require_current(ws: Workspace, built: BuiltIssue) -> BuiltIssue:
    """`built`, or an error when its inputs changed since: pictures of an old build mislead."""
    if not built.up_to_date:
        raise GbaletterError(f"{ws.display(built.folder)} is older than the issue's manifest, "
                             f"content or templates: run `gbaletter issue build {built.issue_id}` first")
    return built
