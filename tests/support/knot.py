"""A real authoritative DNS server for one test: Knot DNS (`knotd`) on 127.0.0.1, serving the
zones the test writes. dnspython asks it as `gbaletter doctor --nameserver 127.0.0.1:PORT` would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.daemons import foreground_server, free_port
from support.programs import require_program


def zone_text(origin: str, records: list[str]) -> str:
    """A zone file: SOA and NS of `origin`, then `records` (relative names, one per line)."""
    return "\n".join([f"$ORIGIN {origin}.", "$TTL 300",
                      f"@ SOA ns.{origin}. hostmaster.{origin}. 1 3600 600 86400 300",
                      f"@ NS ns.{origin}.", "ns A 127.0.0.1", *records, ""])


def txt_value(text: str) -> str:
    """A TXT value in zone syntax, split into strings of at most 255 characters (a DKIM key is longer)."""
    return " ".join(f'"{text[i:i + 255]}"' for i in range(0, len(text), 255))


@contextmanager
def knot_server(folder: Path, zones: dict[str, list[str]]) -> Iterator[int]:
    """knotd serving `zones` (origin -> records) on 127.0.0.1; yields its port."""
    knotd = require_program("knotd", "knot")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for origin, records in zones.items():
        (folder / f"{origin}.zone").write_text(zone_text(origin, records), encoding="utf-8")
        entries.append(f'  - domain: {origin}\n    file: "{folder}/{origin}.zone"')
    config = folder / "knot.conf"
    config.write_text(f"""server:
    rundir: "{folder}"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "{folder}/db"
template:
  - id: default
    storage: "{folder}"
    zonefile-sync: -1
    journal-content: none
zone:
""" + "\n".join(entries) + "\n", encoding="utf-8")
    with foreground_server([knotd, "-c", str(config)], port, folder / "knot.log", "knotd"):
        yield port
