"""Reading CSV exports as they come (BOM, `;` or `,`, a wrong encoding) and writing CSV safely."""

from __future__ import annotations

import codecs
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from ..errors import GbaletterError

_CHUNK = 1 << 20
# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP
# "CSV injection"); the apostrophe is in the list so that guarding is undone without loss.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def spreadsheet_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading formula character gets a `'` before it
    (which spreadsheets hide); `unguarded_cell` takes it off again on import."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def unguarded_cell(value: str) -> str:
    """The value `spreadsheet_cell` guarded (an exported list reads back unchanged)."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_STARTS) else value


def check_text_file(path: Path) -> int:
    """Check that the whole file is UTF-8 text before anything is imported; returns its line count.

    Decoding up front (~0.1 s for 60 MB) means a file in another encoding is refused as a whole,
    with the line of the first bad byte, instead of half-imported.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    line = lines + chunk.count(b"\n", 0, exc.start) + 1
                    raise GbaletterError(f"{path.name}: line {line}: not UTF-8 (byte "
                                         f"0x{chunk[exc.start]:02x}); save the file as UTF-8 "
                                         "and import it again") from None
                if b"\0" in chunk:
                    line = lines + chunk.count(b"\n", 0, chunk.index(b"\0")) + 1
                    raise GbaletterError(f"{path.name}: line {line}: NUL byte; "
                                         "this is not a CSV text file")
                lines += chunk.count(b"\n")
                last = chunk
            if lines == 0 and fh.tell() == 0:
                raise GbaletterError(f"{path.name}: empty file")
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise GbaletterError(f"{path.name}: ends in the middle of a UTF-8 character; "
                             "save the file as UTF-8 and import it again") from None
    except OSError as exc:
        raise GbaletterError(f"{path}: cannot read: {exc.strerror}") from None
    return lines + (0 if last.endswith(b"\n") else 1)


def sniff_delimiter(header_line: str) -> str:
    """`;` when the header has more semicolons than commas (European spreadsheets), else `,`."""
    return ";" if header_line.count(";") > header_line.count(",") else ","


@contextmanager
def atomic_text_file(path: Path) -> Iterator[TextIO]:
    """A text file written beside `path` and moved into place only when the block succeeds."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise GbaletterError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise GbaletterError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
