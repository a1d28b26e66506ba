"""A private Dovecot IMAP server on 127.0.0.1 with TLS (a throw-away certificate), one user whose
mail is a Maildir in a temporary folder, run in the foreground and stopped afterwards."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


from support.daemons import foreground_server, free_port, shared_folder
from support.programs import program_missing, require_program
from support.tls_cert import self_signed

USER = "bounces"
PASSWORD = "imap-test-password"


@dataclass
class Imap:
    port: int
    cafile: Path
    maildir: Path   # the user's Maildir (INBOX), filled before the server starts
    log: Path


@contextmanager
def dovecot_server(messages: dict[str, bytes]) -> Iterator[Imap]:
    """Dovecot with `messages` (name -> bytes) in the user's INBOX."""
    dovecot = require_program("dovecot", "dovecot-imapd")
    if os.geteuid() != 0:
        program_missing("the private Dovecot instance needs root (it switches to its own users)")
    with shared_folder("gbaletter-dovecot-") as folder:
        yield from _run(dovecot, folder, messages)


def _run(dovecot: str, folder: Path, messages: dict[str, bytes]) -> Iterator[Imap]:
    nobody = pwd.getpwnam("nobody")
    home = folder / "home" / USER
    maildir = home / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for name, data in messages.items():
        (maildir / "new" / f"1733000000.{name}.test").write_bytes(data)
    for path in [folder / "home", *home.rglob("*"), home]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    cert, key = self_signed(folder)
    port, log = free_port(), folder / "dovecot.log"
    (folder / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    config = folder / "dovecot.conf"
    config.write_text(f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {folder / 'run'}
state_dir = {folder / 'state'}
log_path = {log}
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {nobody.pw_uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder / 'users'}
}}
userdb {{
  driver = static
  args = uid={nobody.pw_uid} gid={nobody.pw_gid} home={folder / 'home'}/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""")
    with foreground_server([dovecot, "-F", "-c", str(config)], port, log, "Dovecot"):
        yield Imap(port, cert, maildir, log)
