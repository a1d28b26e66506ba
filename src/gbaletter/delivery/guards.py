"""What a send refuses before it opens a journal: placeholder settings on a real relay, and a
segment that selects nobody (docs/outcomes.md, "Before a send").

Trials stay easy: placeholders are refused only when the relay is not on this machine, so a first
send into `gbaletter smtp-sink` on 127.0.0.1 works with the sample's settings.
"""

from __future__ import annotations

import ipaddress
import socket

from ..config import Workspace, placeholder_settings
from ..errors import GbaletterError


def relay_is_local(host: str) -> bool:
    """Whether every address `host` names is this machine's loopback (a name that does not
    resolve is not local: the connection will say what is wrong with it)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback
                               for info in infos)


def refuse_placeholders(ws: Workspace, relay_host: str) -> None:
    """One line naming every placeholder setting, when mail would leave this machine."""
    found = placeholder_settings(ws.config)
    if found and not relay_is_local(relay_host):
        raise GbaletterError(
            f"not sending through {relay_host}: gbaletter.toml still holds placeholders ("
            + "; ".join(found) + "); put in your own values (`gbaletter doctor` checks them), "
            "or try the issue on a local sink (`gbaletter smtp-sink`)")
