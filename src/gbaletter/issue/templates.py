"""The Jinja environment of the email and page templates: the workspace's templates first, then
the package's. Its own module so that what renders pages (`serve`, reports) loads Jinja and not the
build stack (MJML, premailer, cssutils)."""

from __future__ import annotations

import os
import pickle
from functools import lru_cache, partial
from pathlib import Path

import jinja2
from jinja2.bccache import Bucket
from markupsafe import Markup

from .. import placeholders
from ..languages import LANGUAGES
from ..textwidth import wrap
from ..translations import format_day, format_number, translations
from .editorial import lead_in


_MARKERS = frozenset(placeholders.marker(name) for name in placeholders.NAMES)


def _finalize(value: object) -> object:
    """Every `{{ }}` output passes here: content can never smuggle in a send-time placeholder."""
    if not isinstance(value, str) or value in _MARKERS:
        return value
    defused = placeholders.defuse(value)
    return Markup(defused) if isinstance(value, Markup) else defused


BYTECODE_FOLDER = "templates"  # in the workspace's cache folder (`Workspace.cache_dir`)


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """The templates as Jinja compiled them, kept between processes in the workspace's git-ignored
    cache folder: compiling them anew cost ~40 ms of every CLI build.

    Jinja names a file by the template's name and file path and checks the template's checksum
    when it reads it, so an edited template is compiled again at once; it writes a temporary file
    and renames it over the old one, so a concurrent build reads a whole file or none. A folder
    that cannot be made, read or written, or a damaged file, only costs the compile.
    """

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, pickle.UnpicklingError):
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            os.makedirs(self.directory, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:
            pass


def template_environment(templates_dir: Path, language: str = "en",
                         cache_dir: Path | None = None) -> jinja2.Environment:
    """Templates from the workspace's folder first, then the defaults shipped in the package,
    with the labels, dates and `html_lang` of `language` (one of gbaletter.languages.LANGUAGES).

    Autoescape is on for everything but `.txt.j2`; undefined names are errors, not blanks.
    The environment (and so its compiled templates) is reused, one per language, until a file in
    the workspace's templates folder is added, removed or changed. With `cache_dir` (the
    workspace's), the compiled templates are kept there for the next process (`_BytecodeCache`).
    """
    overrides = tuple(sorted((str(p), p.stat().st_mtime_ns) for p in templates_dir.rglob("*")
                             if p.is_file())) if templates_dir.is_dir() else ()
    return _environment(templates_dir, overrides, language, cache_dir)


def _strong(value: object) -> Markup:
    """A value set in bold inside a translated sentence (escaped like any other)."""
    return Markup("<strong>%s</strong>") % value


@lru_cache(maxsize=16)
def _environment(templates_dir: Path, _overrides: tuple, language: str,
                 cache_dir: Path | None) -> jinja2.Environment:
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
        bytecode_cache=_BytecodeCache(str(cache_dir / BYTECODE_FOLDER)) if cache_dir else None,
    )
    # Every label a reader sees is written `{{ _("...") }}` (placeholders as keywords:
    # `_("Issue %(number)s", number=n)`), translated from the language's catalogue (English: as
    # written). A label made in Python (an error on a page, marked N_) is shown `| translate`.
    catalogue = translations(language)
    env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
    env.filters["translate"] = catalogue.gettext
    env.filters["day"] = partial(format_day, language=language)        # 30 June 2019, 2019年6月30日
    env.filters["number"] = partial(format_number, language=language)  # 12,345
    env.filters["wrap"] = wrap  # by display width, Chinese line breaking (gbaletter.textwidth)
    env.filters["lead_in"] = lead_in
    env.globals.update(html_lang=LANGUAGES[language].html_lang, strong=_strong)
    return env
