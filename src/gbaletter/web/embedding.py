"""The subscribe form on the desk's own site: who may frame it and where a sign-up may be sent
back to. Both are `[web] embed_origins`, exact origins (scheme, host and port): no open redirect,
no framing by anyone else (a framed form could be clicked through a trick).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..links import origin
from .pages import FORM_HEADERS

MAX_RETURN_TO = 2000
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f\\]")


def embed_headers(origins: list[str]) -> dict[str, str]:
    """The form's headers, framable by the desk's sites only (none: by nobody)."""
    ancestors = " ".join(origins) or "'none'"
    csp = FORM_HEADERS["Content-Security-Policy"].replace("frame-ancestors 'none'",
                                                          f"frame-ancestors {ancestors}")
    return {**FORM_HEADERS, "Content-Security-Policy": csp}


def allowed_return(url: str, origins: list[str]) -> bool:
    """Whether a sign-up may be redirected to `url`: an http(s) address on one of the desk's
    origins, with no credentials, spaces, control characters or backslashes that a browser might
    read differently from us."""
    if not url or len(url) > MAX_RETURN_TO or _UNSAFE.search(url):
        return False
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return False
    return origin(parts.scheme, parts.netloc) in {allowed.lower() for allowed in origins}
