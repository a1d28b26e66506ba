"""The demo: build the sample issue and send it to the sample subscribers through a local SMTP
server, printing each gbaletter command as it runs and where the results are.

Everything it writes goes to demo-output/ (its own database and mailbox) and to the issue's build
folder; the workspace's real database is never touched. Run it with `make demo`.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "demo-output"
ISSUE = "2019-W26"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gbaletter(*args: str, env: dict) -> None:
    print(f"\n$ gbaletter {shlex.join(args)}", flush=True)
    result = subprocess.run([sys.executable, "-m", "gbaletter", *args], cwd=REPO, env=env)
    if result.returncode:
        sys.exit(f"demo stopped: `gbaletter {shlex.join(args)}` exited with {result.returncode}")


def wait_for_port(port: int) -> None:
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit("demo stopped: the local SMTP server did not start")


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    port = free_port()
    env = {**os.environ,
           "GBALETTER_ROOT": str(REPO),
           "GBALETTER_DATABASE_URL": f"sqlite:///{OUT / 'demo.db'}",
           "GBALETTER_SECRET": secrets.token_urlsafe(24),
           "GBALETTER_SMTP_HOST": "127.0.0.1", "GBALETTER_SMTP_PORT": str(port),
           "GBALETTER_SMTP_TLS": "none"}
    for key in ("GBALETTER_SMTP_USERNAME", "GBALETTER_SMTP_PASSWORD"):
        env.pop(key, None)
    gbaletter("issue", "build", ISSUE, env=env)
    gbaletter("subscribers", "import", "subscribers/sample-subscribers.csv", "--status", "active", env=env)
    gbaletter("segments", "add", "tech-readers", "tag:technology or tag:5g", env=env)
    print(f"\n$ gbaletter smtp-sink --port {port} --maildir demo-output/maildir   (in the background)")
    sink = subprocess.Popen([sys.executable, "-m", "gbaletter", "smtp-sink", "--port", str(port),
                             "--maildir", str(OUT / "maildir")], cwd=REPO, env=env)
    try:
        wait_for_port(port)
        gbaletter("issue", "send", ISSUE, "--segment", "tech-readers", env=env)
        gbaletter("issue", "status", ISSUE, env=env)
    finally:
        sink.terminate()
        sink.wait()
    messages = sorted((OUT / "maildir" / "new").iterdir())
    build = REPO / "issues" / ISSUE / "build"
    print("\nDone. Open these:")
    print(f"  the email as built:   {build / 'email.html'}")
    print(f"  its plain-text part:  {build / 'email.txt'}")
    print(f"  messages received:    {OUT / 'maildir' / 'new'} ({len(messages)})")
    if messages:
        print(f"  for example:          {messages[0]}")


if __name__ == "__main__":
    main()
