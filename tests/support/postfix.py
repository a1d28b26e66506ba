"""A private Postfix on 127.0.0.1, configured in a temporary folder, as the relay of a send.

It accepts every recipient of its local test domain at SMTP time (as a provider's relay does) and
delivers with virtual(8) to Maildirs: the listed mailboxes get the issue, the others are bounced
by Postfix itself, whose DSN goes to the envelope sender, `bounces+<token>@` the same domain,
which (recipient_delimiter = +) lands in the `bounces` Maildir. Runs as root (the test machine's
user) with Postfix's own accounts for its daemons.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.daemons import foreground_server, free_port, shared_folder
from support.programs import program_missing, require_program

DOMAIN = "relay-bay.example.net"
SERVICES = """\
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


@dataclass
class Relay:
    port: int
    mail: Path
    log: Path

    def maildir(self, mailbox: str) -> Path:
        return self.mail / mailbox

    def wait_for(self, mailbox: str, count: int, timeout: float = 60) -> list[Path]:
        """The messages in `mailbox`/new once there are `count` of them (fails after `timeout`)."""
        deadline = time.monotonic() + timeout
        new = self.maildir(mailbox) / "new"
        while time.monotonic() < deadline:
            found = sorted(new.iterdir()) if new.is_dir() else []
            if len(found) >= count:
                return found
            time.sleep(0.2)
        pytest.fail(f"Postfix delivered {len(found)} of {count} messages to {mailbox}; log:\n"
                    + (self.log.read_text()[-3000:] if self.log.exists() else "(no log)"))


@contextmanager
def postfix_relay(mailboxes: list[str]) -> Iterator[Relay]:
    """Postfix listening on a free 127.0.0.1 port; `mailboxes` (and `bounces`) exist in DOMAIN.

    Its folders live in a temporary folder of their own that Postfix's users can enter."""
    postfix = require_program("postfix", "postfix")
    if os.geteuid() != 0:
        program_missing("the private Postfix instance needs root (its daemons switch to the postfix user)")
    with shared_folder("gbaletter-postfix-") as folder:
        yield from _run(postfix, folder, mailboxes)


def _run(postfix: str, folder: Path, mailboxes: list[str]) -> Iterator[Relay]:
    conf, queue, data, mail = (folder / name for name in ("conf", "queue", "data", "mail"))
    for path in (conf, queue, data, mail):
        path.mkdir(parents=True)
    owner = pwd.getpwnam("postfix")
    os.chown(data, owner.pw_uid, owner.pw_gid)
    nobody = pwd.getpwnam("nobody")
    os.chown(mail, nobody.pw_uid, nobody.pw_gid)
    port = free_port()
    log = folder / "maillog"
    (conf / "vmailbox").write_text("".join(f"{box}@{DOMAIN} {box}/\n" for box in mailboxes)
                                   + f"bounces@{DOMAIN} bounces/\nunsubscribe@{DOMAIN} bounces/\n")
    (conf / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
command_directory = {Path(postfix).parent}
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.{DOMAIN}
mydomain = {DOMAIN}
myorigin = {DOMAIN}
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
# accept every address of the domain at SMTP time, bounce the unknown ones afterwards (a DSN)
smtpd_reject_unlisted_recipient = no
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_maps = texthash:{conf / 'vmailbox'}
virtual_mailbox_base = {mail}
virtual_uid_maps = static:{nobody.pw_uid}
virtual_gid_maps = static:{nobody.pw_gid}
recipient_delimiter = +
alias_maps =
alias_database =
maillog_file = {log}
maillog_file_prefixes = {folder}
""")
    (conf / "master.cf").write_text(f"127.0.0.1:{port} inet n - n - - smtpd\n" + SERVICES)
    with foreground_server([postfix, "-c", str(conf), "start-fg"], port, log, "Postfix",
                           stop=[postfix, "-c", str(conf), "stop"]):
        yield Relay(port, mail, log)
