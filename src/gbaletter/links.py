"""Every public URL gbaletter writes, and the signed tokens in them, decided in one place.

`base_url` (`[newsletter] base_url`, e.g. `https://gba.example.org/newsletter`) is joined here and
nowhere else, so a page served under a path prefix and the links in the messages always agree.
Each purpose has its own one-letter tag inside the token, so a token made for one kind of link
is worthless on another page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .config import Workspace
from .tokens import Signer, secret_from_env

# token purposes: one letter each, part of the signed payload
UNSUBSCRIBE = "u"   # one-click unsubscribe (List-Unsubscribe URL and the footer link)
CONFIRM = "c"       # double opt-in confirmation
RESUBSCRIBE = "r"   # undo an unsubscribe from the page that confirmed it

# the issue field of the unsubscribe link in the welcome email, which belongs to no issue
WELCOME_ISSUE = "welcome"


def signer_for(ws: Workspace) -> Signer:
    """The signer of this list: keyed by GBALETTER_SECRET and the list id."""
    return Signer(secret_from_env(), ws.config.newsletter.list_id or ws.config.newsletter.name)


def public_url(ws: Workspace, path: str) -> str:
    """`path` (starting with '/') under the workspace's `base_url`."""
    return ws.config.newsletter.base_url.rstrip("/") + path


def base_path(ws: Workspace) -> str:
    """The path of `base_url` without its last '/' ("/newsletter"), "" when it is the host's root:
    where `gbaletter serve` answers besides the root (for proxies that pass the path on)."""
    return urlsplit(ws.config.newsletter.base_url).path.rstrip("/")


def origin(scheme: str, netloc: str) -> str:
    """"https://gba.example.org": where a request was sent, or where base_url points."""
    return f"{scheme}://{netloc}".lower()


def public_origin(ws: Workspace) -> str:
    """The origin of `base_url`: what a request that came through the public address, with the
    proxy's forwarded headers believed, says it was sent to."""
    parts = urlsplit(ws.config.newsletter.base_url)
    return origin(parts.scheme, parts.netloc)


def unsubscribe_url(ws: Workspace, signer: Signer, subscriber_id: int, issue_id: str) -> str:
    return public_url(ws, f"/u/{signer.make(UNSUBSCRIBE, subscriber_id, issue_id)}")


def view_url(ws: Workspace, issue_id: str) -> str:
    return public_url(ws, f"/archive/{issue_id}")


def confirm_url(ws: Workspace, token: str) -> str:
    return public_url(ws, f"/confirm/{token}")


def subscribe_url(ws: Workspace) -> str:
    return public_url(ws, "/subscribe")


def archive_url(ws: Workspace) -> str:
    return public_url(ws, "/archive")
