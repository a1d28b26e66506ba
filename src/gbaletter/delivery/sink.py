"""An SMTP server that keeps what it receives in a Maildir: for the demo and for trying a send.

It accepts every message on 127.0.0.1 (or the host given) and never relays anything. Each stored
message gets `Return-Path` and `Delivered-To` lines with its envelope, as a real mailbox would.
"""

from __future__ import annotations

import mailbox
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session


@dataclass
class MaildirHandler:
    path: Path
    received: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.maildir = mailbox.Maildir(str(self.path), create=True)

    async def handle_DATA(self, server, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        recipients = ", ".join(envelope.rcpt_tos)
        head = f"Return-Path: <{envelope.mail_from}>\r\nDelivered-To: {recipients}\r\n".encode()
        with self._lock:
            self.maildir.add(head + content)
            self.received += 1
        return "250 2.0.0 stored"


def start_sink(maildir: Path, host: str = "127.0.0.1", port: int = 8025) -> tuple[Controller, MaildirHandler]:
    """Start the server in a background thread; stop it with `controller.stop()`.

    A port already in use raises OSError at once (aiosmtpd would only time out).
    """
    with socket.socket() as probe:
        probe.bind((host, port))
    handler = MaildirHandler(Path(maildir))
    controller = Controller(handler, hostname=host, port=port, ready_timeout=10,
                            data_size_limit=10 * 1024 * 1024)
    controller.start()
    return controller, handler
