"""Split a Markdown file into its YAML front matter and body, with errors that name file and line."""

from __future__ import annotations

from datetime import date, datetime, UTC
from pathlib import Path

import yaml

from ..errors import GbaletterError
from ..fsutil import shown

FENCE = "---"
# libyaml's parser when PyYAML has it: ~10x faster than the pure-Python one, same results.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SAFE_LOADER):  # type: ignore[valid-type,misc]
    """The safe loader, with timestamps that fail as a line of the file, not a traceback."""


class _Dumper(yaml.SafeDumper):
    """The safe dumper, with timestamps that PyYAML reads back."""


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> date:
    """YAML's timestamp, plus what earlier versions wrote for feed entries dated before 1904: an
    offset with seconds (`+07:36:42`, Hong Kong's local mean time), which PyYAML cannot read.
    An impossible date (2026-02-30, month 13) is an error at its line."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except (AttributeError, ValueError, OverflowError):  # AttributeError: the pattern did not match
        text = str(loader.construct_scalar(node))
        try:
            return datetime.fromisoformat(text)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"'{text}' is not a date ({exc})", node.start_mark) from None


def _represent_datetime(dumper: yaml.SafeDumper, value: datetime) -> yaml.ScalarNode:
    """A datetime as YAML's timestamp; an offset with seconds (local mean time, before 1904) is
    written in UTC instead, the same instant in a form YAML allows (hours and minutes)."""
    offset = value.utcoffset()
    if offset is not None and offset.total_seconds() % 60:
        value = value.astimezone(UTC)
    return dumper.represent_scalar("tag:yaml.org,2002:timestamp", value.isoformat(" "))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
_Dumper.add_representer(datetime, _represent_datetime)


def dump_yaml(data: dict) -> str:
    """`yaml.safe_dump` of the editors' files: keys kept in the given order, text as it is."""
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)


def load_yaml(text: str, source: str, first_line: int = 1) -> object:
    """`yaml.safe_load` whose errors read `source:LINE: problem`."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark and (exc.context or "").startswith("while parsing a flow"):
            mark = exc.context_mark  # an unclosed [ or { : point at where it opened
        line = first_line + (mark.line if mark else 0)
        problem = exc.problem or exc.context or "invalid YAML"
        raise GbaletterError(f"{source}:{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise GbaletterError(f"{source}: invalid YAML: {exc}") from None


def split(text: str, source: str) -> tuple[dict, str]:
    """(front matter, body)."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != FENCE:
        raise GbaletterError(f"{source}:1: no front matter (the file must start with a '---' line)")
    for index in range(1, len(lines)):
        if lines[index].strip() == FENCE:
            break
    else:
        raise GbaletterError(f"{source}:1: front matter is not closed by a '---' line")
    meta = load_yaml("".join(lines[1:index]), source, first_line=2)
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise GbaletterError(f"{source}:2: front matter must be a mapping of keys to values")
    return meta, "".join(lines[index + 1:])


def render(meta: dict, body: str) -> str:
    """The text of a Markdown file with `meta` as front matter (keys kept in the given order)."""
    head = dump_yaml(meta)
    return f"{FENCE}\n{head}{FENCE}\n\n{body.strip()}\n"


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise GbaletterError(f"{shown(path)}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise GbaletterError(f"{shown(path)}: cannot read: {exc.strerror}") from None
