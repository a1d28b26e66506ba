"""What a reader sees in their language: the message catalogues, dates and numbers (Babel).

Every label in a template is written `{{ _("...") }}` in English, the templates' own language;
every other language has a gettext catalogue in the package,
`locale/zh_Hant/LC_MESSAGES/messages.po` (the tag with `_`, as `pybabel` names locales). The `.po`
files are what translators edit and review; they are compiled in memory with Babel the first time a
language is used (a few milliseconds), so an editable install and a wheel read the same files and
no compiled `.mo` can go stale. `babel.cfg` at the top of the repository says where the labels
are extracted from (`pybabel extract -F babel.cfg`, docs/editions.md).

A catalogue entry whose translation uses a placeholder its English lacks would fail (or show the
wrong value) in front of a reader: loading it is an error naming the file and line. A label with
no translation reads in English at run time; `catalogue_problems` lists each one, so a check
reports it before anyone is sent English in a Chinese edition.

Babel is imported inside the functions that use it: `tokens` needs only `N_`, and a send, which
loads `tokens`, would otherwise carry ~2 MB of Babel it never calls.
"""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import GbaletterError
from .languages import LANGUAGES

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

SOURCE_LANGUAGE = "en"  # the language the templates and the code are written in
LOCALE_DIR = Path(__file__).parent / "locale"
PACKAGE_DIR = Path(__file__).parent
DOMAIN = "messages"
# Labels are the templates' `_()` and Python's `N_()` (a label shown later, e.g. an error on a
# page): what babel.cfg extracts, read again at run time by the check.
KEYWORDS = {"_": None, "gettext": None, "N_": None}
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sdrif]")
# English, the templates' own language, writes a day as "30 June 2019" (Babel's "d MMMM y") without
# Babel: its locale data (~2 pickles, merged) and `babel.dates` were ~15 ms of every English build.
_ENGLISH_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
                   "September", "October", "November", "December")


def N_(label: str) -> str:
    """Mark a reader-facing label in Python for the catalogue; translated where it is shown."""
    return label


# The greeting's word for a reader without a name, the settings' default (`[newsletter]
# name_fallback`); marked so each catalogue carries it.
DEFAULT_NAME_FALLBACK = N_("reader")


def name_fallback(word: str, language: str) -> str:
    """The greeting's `{{name}}` for a reader without a name in an edition in `language`: the
    desk's word through that language's catalogue, so the default "reader" reads 讀者 in a
    Traditional edition, and a word of the desk's own that the catalogue lacks stays as written."""
    return translations(language).gettext(word) if word else word


def catalogue_path(language: str) -> Path:
    """`locale/zh_Hant/LC_MESSAGES/messages.po`: the folder named as Babel's tools name locales."""
    return LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


def _where(path: Path, shown: Callable[[Path], str] = str) -> str:
    """A file of the package (a catalogue, a template) as its developers know it; any other (a
    workspace's template) as `shown` shows it."""
    try:
        return str(path.relative_to(PACKAGE_DIR.parent.parent))
    except ValueError:
        return shown(path)


def _read(path: Path, language: str) -> Catalog:
    from babel.messages.pofile import PoFileError, read_po

    try:
        with open(path, "rb") as fh:
            return read_po(fh, locale=LANGUAGES[language].locale, abort_invalid=True)
    except FileNotFoundError:
        raise GbaletterError(f"{_where(path)}: no catalogue for {language}") from None
    except (PoFileError, OSError, UnicodeDecodeError) as exc:
        raise GbaletterError(f"{_where(path)}: cannot read the catalogue: {exc}") from None


def read_catalogue(path: Path, language: str) -> Catalog:
    """A `.po` file, read and checked: one line naming the file (and line) when it cannot be used."""
    catalogue = _read(path, language)
    problems = placeholder_problems(catalogue, _where(path))
    if problems:
        raise GbaletterError(problems[0])
    return catalogue


def placeholder_problems(catalogue: Catalog, where: str) -> list[str]:
    """One line per translation using a placeholder (`%(name)s`) its English does not have."""
    problems = []
    for message in catalogue:
        if not message.id or not message.string:
            continue
        english = set(_PLACEHOLDER.findall(str(message.id)))
        for name in sorted(set(_PLACEHOLDER.findall(str(message.string))) - english):
            problems.append(f"{where}:{message.lineno}: the translation uses %({name})s, which "
                            f"its msgid {message.id!r} does not have")
    return problems


@cache
def translations(language: str) -> gettext.NullTranslations:
    """gettext translations for `language` (English: the labels as written)."""
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo

    catalogue = read_catalogue(catalogue_path(language), language)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def format_day(moment: date | datetime, language: str) -> str:
    """A day as `language` writes it: "30 June 2019", "2019年6月30日" (Babel's long date)."""
    if language == SOURCE_LANGUAGE:
        return f"{moment.day} {_ENGLISH_MONTHS[moment.month - 1]} {moment.year}"
    from babel.dates import format_date

    return format_date(moment, "long", locale=LANGUAGES[language].locale)


def format_number(number: float, language: str) -> str:
    from babel.numbers import format_decimal

    return format_decimal(number, locale=LANGUAGES[language].locale)


def labels(template_dirs: Iterable[Path] = (), shown: Callable[[Path], str] = str) -> dict[str, list[str]]:
    """Every label a reader may see -> where it is written (`file:line`, a file outside the
    package as `shown` shows it): the package's templates and code, and the workspace's own
    templates (`template_dirs`)."""
    from babel.messages.extract import extract_from_file

    found: dict[str, list[str]] = {}
    sources = [(path, "python") for path in sorted(PACKAGE_DIR.rglob("*.py"))
               if "N_(" in path.read_text(encoding="utf-8")]
    for folder in (PACKAGE_DIR / "templates", *template_dirs):
        sources += [(path, "jinja2") for path in sorted(folder.rglob("*.j2"))] if folder.is_dir() else []
    for path, method in sources:
        where = _where(path, shown)
        for line, message, _comments, _context in extract_from_file(
                method, str(path), keywords=KEYWORDS, options={"extensions": "jinja2.ext.i18n"}):
            if isinstance(message, str) and message:
                found.setdefault(message, []).append(f"{where}:{line}")
    return found


def catalogue_problems(languages: Iterable[str], template_dirs: Iterable[Path] = (),
                       shown: Callable[[Path], str] = str) -> list[tuple[str, str]]:
    """(where, what) for each label without a translation in one of `languages` (English needs
    none) and each translation that cannot be used; empty when every edition reads only its own
    language. A label in `template_dirs` is where `shown` shows its file."""
    problems: list[tuple[str, str]] = []
    needed = labels(template_dirs, shown)
    for language in languages:
        if language == SOURCE_LANGUAGE:
            continue
        path = catalogue_path(language)
        try:
            catalogue = _read(path, language)
        except GbaletterError as exc:
            problems.append((_where(path), str(exc).removeprefix(f"{_where(path)}: ")))
            continue
        problems += [(where, what) for where, _, what in
                     (line.partition(": ") for line in placeholder_problems(catalogue, _where(path)))]
        for label, places in needed.items():
            message = catalogue.get(label)
            if message is None or not message.string or message.fuzzy:
                problems.append((places[0], f"no {language} translation for {label!r} "
                                            f"(add it to {_where(path)})"))
    return problems
