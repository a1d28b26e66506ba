"""Where bounces arrive: a local Maildir or an IMAP folder over TLS. Reading and moving only.

Both give the messages still to look at (`messages()`), move the understood ones out of the way
(`done(keys)`: into `[bounces] processed_folder`), and leave the rest exactly where they were, so a
second run reads only what it could not understand the first time. A message over the size limit
is not even downloaded.

- Maildir (a Postfix delivering the bounce address on this host): reads new/ and cur/; the
  processed folder is a Maildir++ subfolder (`.Processed`, created with the standard library's
  `mailbox`), and a processed message lands in its cur/ with the Seen flag.
- IMAP (imapclient): TLS always, certificates verified (the system's CAs, plus
  GBALETTER_BOUNCES_CAFILE for a private server); the password only from
  GBALETTER_BOUNCES_PASSWORD. Processed messages are moved with MOVE (RFC 6851), or copied and
  expunged where the server lacks it. `--watch` waits with IDLE.
"""

from __future__ import annotations

import mailbox
import os
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..config import BouncesSettings, Workspace
from ..errors import GbaletterError

PASSWORD_ENV = "GBALETTER_BOUNCES_PASSWORD"
CAFILE_ENV = "GBALETTER_BOUNCES_CAFILE"
IMAP_CHUNK = 100
SORT_CHUNK = 10_000  # Maildir names held and sorted at a time
IDLE_SECONDS = 300  # re-issue IDLE at least this often (RFC 2177 asks for less than 29 minutes)


@dataclass
class Incoming:
    key: str              # how the source finds the message again (a path, a UID)
    name: str             # how the operator finds it (file name, "UID 7")
    data: bytes | None    # None: larger than the limit, not read
    size: int


class Source(Protocol):
    def messages(self) -> Iterator[Incoming]: ...
    def done(self, keys: list[str]) -> None: ...
    def wait(self, seconds: float) -> None: ...
    def close(self) -> None: ...


class MaildirSource:
    def __init__(self, path: Path, processed_folder: str, max_bytes: int):
        try:
            mailbox.Maildir(path, factory=None, create=False)
        except mailbox.NoSuchMailboxError:
            raise GbaletterError(f"bounce mailbox {path}: no such Maildir") from None
        if not ((path / "new").is_dir() and (path / "cur").is_dir()):
            raise GbaletterError(f"bounce mailbox {path}: not a Maildir (no new/ and cur/ in it)")
        self.path, self.processed_folder, self.max_bytes = path, processed_folder, max_bytes
        self._processed_cur: Path | None = None

    def messages(self) -> Iterator[Incoming]:
        for sub in ("new", "cur"):
            # streamed, SORT_CHUNK names at a time, each chunk in name (= arrival) order: memory
            # stays flat with the mailbox, and a batch's messages are about neighbouring journal
            # rows, so a commit touches few database pages. Only entries already read are moved
            # away meanwhile, which leaves the rest of the listing intact (POSIX readdir).
            with os.scandir(self.path / sub) as entries:
                chunk: list[str] = []
                for entry in entries:
                    if not entry.name.startswith(".") and entry.is_file():
                        chunk.append(entry.name)
                    if len(chunk) >= SORT_CHUNK:
                        yield from self._read_all(sub, chunk)
                yield from self._read_all(sub, chunk)

    def _read_all(self, sub: str, names: list[str]) -> Iterator[Incoming]:
        names.sort()
        for name in names:
            yield from self._read(sub, name)
        names.clear()

    def _read(self, sub: str, name: str) -> Iterator[Incoming]:
        path = self.path / sub / name
        try:
            size = path.stat().st_size
            data = path.read_bytes() if size <= self.max_bytes else None
        except FileNotFoundError:  # another reader took it meanwhile
            return
        yield Incoming(str(path), f"{sub}/{name}", data, size)

    def _processed(self) -> Path:
        if self._processed_cur is None:
            mailbox.Maildir(self.path, factory=None, create=False).add_folder(self.processed_folder)
            self._processed_cur = self.path / f".{self.processed_folder}" / "cur"
        return self._processed_cur

    def done(self, keys: list[str]) -> None:
        target = self._processed() if keys else None
        for key in keys:
            source = Path(key)
            unique, _, flags = source.name.partition(":2,")
            flags = "".join(sorted(set(flags) | {"S"}))
            assert target is not None
            os.replace(source, target / f"{unique}:2,{flags}")

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        pass


class ImapSource:
    def __init__(self, settings: BouncesSettings, max_bytes: int, environ: Mapping[str, str]):
        from imapclient import IMAPClient
        from imapclient.exceptions import IMAPClientError, LoginError

        self.where = f"IMAP server {settings.host}:{settings.port}"
        password = environ.get(PASSWORD_ENV, "")
        if not password:
            raise GbaletterError(f"{self.where}: set {PASSWORD_ENV} to the password of '{settings.user}'")
        context = ssl.create_default_context()
        cafile = environ.get(CAFILE_ENV, "")
        try:
            if cafile:
                context.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise GbaletterError(f"{CAFILE_ENV} {cafile}: {exc}") from None
        try:
            self.client = IMAPClient(settings.host, settings.port, ssl=True, ssl_context=context, timeout=30)
        except ssl.SSLCertVerificationError as exc:
            raise GbaletterError(f"{self.where}: TLS certificate not trusted ({exc.verify_message})") from None
        except (TimeoutError, OSError, IMAPClientError) as exc:
            raise GbaletterError(f"cannot reach {self.where}: {exc}") from None
        try:
            self.client.login(settings.user, password)
        except LoginError as exc:
            self.client.shutdown()
            raise GbaletterError(f"{self.where} refused the login for '{settings.user}': "
                                 f"{_text(exc)}") from None
        try:
            self.client.select_folder(settings.folder)
        except IMAPClientError as exc:
            self.client.logout()
            raise GbaletterError(f"{self.where}: cannot open folder '{settings.folder}': {_text(exc)}") from None
        self.processed_folder, self.max_bytes = settings.processed_folder, max_bytes
        self._folder_ready = False

    def messages(self) -> Iterator[Incoming]:
        uids = sorted(self.client.search(["NOT", "DELETED"]))
        for start in range(0, len(uids), IMAP_CHUNK):
            chunk = uids[start:start + IMAP_CHUNK]
            sizes = {uid: int(v.get(b"RFC822.SIZE", 0))
                     for uid, v in self.client.fetch(chunk, ["RFC822.SIZE"]).items()}
            small = [uid for uid in chunk if sizes.get(uid, 0) <= self.max_bytes]
            bodies = self.client.fetch(small, ["BODY.PEEK[]"]) if small else {}
            for uid in chunk:
                if uid not in sizes:
                    continue  # expunged by someone else meanwhile
                data = bodies.get(uid, {}).get(b"BODY[]") if uid in small else None
                yield Incoming(str(uid), f"UID {uid}", data, sizes[uid])

    def done(self, keys: list[str]) -> None:
        if not keys:
            return
        uids = [int(key) for key in keys]
        if not self._folder_ready:
            if not self.client.folder_exists(self.processed_folder):
                self.client.create_folder(self.processed_folder)
            self._folder_ready = True
        if self.client.has_capability("MOVE"):
            self.client.move(uids, self.processed_folder)
        else:
            self.client.copy(uids, self.processed_folder)
            self.client.delete_messages(uids)
            if self.client.has_capability("UIDPLUS"):
                self.client.uid_expunge(uids)
            else:
                self.client.expunge()

    def wait(self, seconds: float) -> None:
        self.client.idle()
        try:
            self.client.idle_check(timeout=min(seconds, IDLE_SECONDS))
        finally:
            self.client.idle_done()

    def close(self) -> None:
        try:
            self.client.logout()
        except Exception:  # the connection may already be gone: nothing is left to lose
            pass


def _text(exc: BaseException) -> str:
    text = str(exc)
    return text[2:-1] if text.startswith(("b'", 'b"')) else text


def open_source(ws: Workspace, environ: Mapping[str, str] | None = None) -> Source:
    """The bounce mailbox `[bounces]` names."""
    settings = ws.config.bounces
    env = os.environ if environ is None else environ
    if settings.source == "maildir":
        path = Path(settings.path)
        return MaildirSource(path if path.is_absolute() else ws.root / path, settings.processed_folder,
                             settings.max_message_bytes)
    if settings.source == "imap":
        return ImapSource(settings, settings.max_message_bytes, env)
    raise GbaletterError("no bounce mailbox configured: set [bounces] source = \"maildir\" (with path) "
                         "or \"imap\" (with host, user) in gbaletter.toml")
