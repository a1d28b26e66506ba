"""Running a system server (Postfix, Dovecot) for one test: a folder its users can enter, a free
port, the server in the foreground, a clear failure if it does not come up, and a clean stop."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def shared_folder(prefix: str) -> Iterator[Path]:
    """A temporary folder the server's own users can enter (pytest's are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def foreground_server(command: list[str], port: int, log: Path, name: str,
                      stop: list[str] | None = None) -> Iterator[None]:
    """`command` running until the block ends, once it listens on 127.0.0.1:`port`; stopped with
    `stop` (a command) or SIGTERM."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                pytest.fail(f"{name} did not start: {output}\n{log.read_text() if log.exists() else ''}")
            time.sleep(0.1)
        yield
    finally:
        if stop:
            subprocess.run(stop, capture_output=True)
        else:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
