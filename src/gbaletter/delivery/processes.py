"""Which process is doing a job, and whether it is still there.

Send workers and schedulers write their name (`host:pid`) beside what they claim, so that
`issue status` and `issue schedules` say who has it, and so that the next one can tell a claim
whose process has gone (a crash, a SIGKILL, a power loss) from one that is still at work.
"""

from __future__ import annotations

import os
import socket


def process_name() -> str:
    """This process as claims name it: enough to find it (host and pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def gone_from_this_host(name: str) -> bool:
    """Whether `name` was a process of this host that no longer runs. A process of another host,
    or a name that is not `host:pid`, is not known to be gone: False. (A pid reused since by
    another process reads as alive: the safe side, the claim waits.)"""
    host, _, pid = name.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's process of that number: alive
    return False
