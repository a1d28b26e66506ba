"""The Jinja environment of the email and page templates: the workspace's templates first, then
the package's. Its own module so that what renders pages (`serve`, reports) loads Jinja and not the
build stack (MJML, premailer, cssutils)."""

from __future__ import annotations

import textwrap
from functools import lru_cache
from pathlib import Path

import jinja2
from markupsafe import Markup

from .. import placeholders
from .editorial import lead_in


_MARKERS = frozenset(placeholders.marker(name) for name in placeholders.NAMES)


def _finalize(value: object) -> object:
    """Every `{{ }}` output passes here: content can never smuggle in a send-time placeholder."""
    if not isinstance(value, str) or value in _MARKERS:
        return value
    defused = placeholders.defuse(value)
    return Markup(defused) if isinstance(value, Markup) else defused


def _wrap(text: str, width: int = 72, indent: str = "") -> str:
    paragraphs = [p for p in str(text).split("\n\n")]
    return "\n\n".join(textwrap.fill(" ".join(p.split()), width=width, subsequent_indent=indent,
                                     break_long_words=False, break_on_hyphens=False)
                       for p in paragraphs)


def template_environment(templates_dir: Path) -> jinja2.Environment:
    """Templates from the workspace's folder first, then the defaults shipped in the package.

    Autoescape is on for everything but `.txt.j2`; undefined names are errors, not blanks.
    The environment (and so its compiled templates) is reused until a file in the workspace's
    templates folder is added, removed or changed.
    """
    overrides = tuple(sorted((str(p), p.stat().st_mtime_ns) for p in templates_dir.rglob("*")
                             if p.is_file())) if templates_dir.is_dir() else ()
    return _environment(templates_dir, overrides)


@lru_cache(maxsize=8)
def _environment(templates_dir: Path, _overrides: tuple) -> jinja2.Environment:
    loader = jinja2.ChoiceLoader([
        jinja2.FileSystemLoader(str(templates_dir)),
        jinja2.PackageLoader("gbaletter", "templates"),
    ])
    env = jinja2.Environment(
        loader=loader,
        autoescape=lambda name: not (name or "").endswith(".txt.j2"),
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
        # Compiled templates kept between runs (a per-user folder in the temporary directory,
        # keyed by each template's source): compiling them anew cost ~40 ms of every CLI build.
        bytecode_cache=jinja2.FileSystemBytecodeCache(),
    )
    # Every label a reader sees is written `{{ _("...") }}` (placeholders as keywords:
    # `_("Issue %(number)s", number=n)`), so editions can translate them from a catalogue;
    # until one is installed the labels read as written.
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.filters["wrap"] = _wrap
    env.filters["lead_in"] = lead_in
    return env
