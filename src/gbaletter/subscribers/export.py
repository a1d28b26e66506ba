"""Subscribers as plain records: CSV that the importer reads back, and JSON for scripts."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from .csvfiles import atomic_text_file, spreadsheet_cell
from .segments import Member

EXPORT_COLUMNS = ("email", "name", "status", "language", "tags", "attributes", "joined", "consent_source")


def member_record(member: Member) -> dict[str, Any]:
    return {"email": member.email, "name": member.name, "status": member.status.value,
            "language": member.language, "tags": list(member.tags), "attributes": member.attributes,
            "joined": member.created_at.isoformat(), "consent_source": member.consent_source}


def member_json(member: Member) -> str:
    return json.dumps(member_record(member), ensure_ascii=False)


def export_csv(members: Iterable[Member], output: Path | None) -> int:
    """Write members as CSV to `output` (replaced only when complete) or standard output; a
    cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`) is guarded."""
    with atomic_text_file(output) if output else nullcontext(sys.stdout) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        count = 0
        for member in members:
            record = member_record(member)
            record["tags"] = ",".join(member.tags)
            record["attributes"] = json.dumps(member.attributes, ensure_ascii=False)
            writer.writerow(spreadsheet_cell(record[column]) for column in EXPORT_COLUMNS)
            count += 1
    return count
