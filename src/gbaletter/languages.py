"""The languages a desk writes in, and what any other spelling of a language means to it.

A desk lists its languages in `[newsletter] languages` (BCP 47, the first is the default), out of
the ones gbaletter knows (`LANGUAGES`). Everything that names a reader's language (a CSV column,
the sign-up form, the admin CLI, a browser's `Accept-Language`) goes through `normalize_language`,
one pure function over the table in docs/editions.md: `zh-HK`, `zh_TW` and `zh-MO` are Traditional
Chinese, `zh-CN` and `zh-SG` Simplified, `en-GB` English.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import GbaletterError


@dataclass(frozen=True)
class Language:
    """A language gbaletter can publish in."""

    tag: str      # the BCP 47 tag the desk writes in its settings and files
    name: str     # in the language itself, for the reader choosing it
    locale: str   # Babel's locale for dates, numbers and the message catalogue
    html_lang: str  # the `lang` attribute of a page or an email in it
    chinese: bool = False


LANGUAGES: dict[str, Language] = {language.tag: language for language in (
    Language("en", "English", "en", "en"),
    # Traditional as written in Hong Kong and Macau (the desk's readers), hence zh_Hant_HK.
    Language("zh-Hant", "繁體中文", "zh_Hant_HK", "zh-Hant-HK", chinese=True),
    Language("zh-Hans", "简体中文", "zh_Hans_CN", "zh-Hans", chinese=True),
)}

# Script and region subtags of Chinese -> the script it is written in. Checked in order: a script
# subtag (zh-Hant-CN) wins over a region.
_CHINESE_SUBTAGS = {
    "hant": "zh-Hant", "hans": "zh-Hans",
    "hk": "zh-Hant", "mo": "zh-Hant", "tw": "zh-Hant",
    "cn": "zh-Hans", "sg": "zh-Hans", "my": "zh-Hans",
}
# Primary subtags read as Chinese: Cantonese (yue) is written in Traditional characters unless a
# subtag says otherwise, Mandarin (cmn) and the bare `zh` take the desk's first Chinese language.
_CHINESE_PRIMARY = {"zh": None, "cmn": None, "yue": "zh-Hant"}
# What people type in a spreadsheet's language column instead of a tag.
_NAMES = {
    "english": "en",
    "繁體中文": "zh-Hant", "繁体中文": "zh-Hant", "繁體": "zh-Hant", "繁体": "zh-Hant",
    "traditional chinese": "zh-Hant", "chinese (traditional)": "zh-Hant",
    "简体中文": "zh-Hans", "簡體中文": "zh-Hans", "简体": "zh-Hans", "簡體": "zh-Hans",
    "simplified chinese": "zh-Hans", "chinese (simplified)": "zh-Hans",
}
# OpenCC's configurations by the script they write: `[editions] to_hans` and `to_hant` name one.
# hk2s/s2hk follow Hong Kong usage (the desk's); s2twp also swaps mainland words for Taiwan's.
OPENCC_TO = {
    "zh-Hans": ("hk2s", "t2s", "tw2s", "tw2sp"),
    "zh-Hant": ("s2hk", "s2t", "s2tw", "s2twp"),
}
_TAG = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*")


class UnknownLanguage(GbaletterError):
    """A value that names none of the desk's languages; the message says which ones there are."""


def check_languages(tags: Sequence[str]) -> list[str]:
    """The desk's languages as configured, checked: known, each once, at least one."""
    if not tags:
        raise UnknownLanguage("must list at least one language, e.g. [\"en\"]")
    for tag in tags:
        if tag not in LANGUAGES:
            raise UnknownLanguage(f"unknown language {tag!r} (known: {', '.join(LANGUAGES)})")
    if len(set(tags)) != len(tags):
        raise UnknownLanguage(f"a language is listed twice in {list(tags)}")
    return list(tags)


def _canonical(value: str, languages: Sequence[str]) -> str | None:
    """The LANGUAGES tag `value` means, or None when it means none of them."""
    text = value.strip()
    named = _NAMES.get(text.lower())
    if named:
        return named
    if not _TAG.fullmatch(text):
        return None
    primary, *subtags = re.split(r"[-_]", text.lower())
    if primary == "en":
        return "en"
    if primary not in _CHINESE_PRIMARY:
        return None
    for subtag in subtags:
        if subtag in _CHINESE_SUBTAGS:
            return _CHINESE_SUBTAGS[subtag]
    default = _CHINESE_PRIMARY[primary]
    if default:
        return default
    return next((tag for tag in languages if LANGUAGES[tag].chinese), "zh-Hans")


def normalize_language(value: str, languages: Sequence[str]) -> str:
    """The desk language `value` names (`zh-HK` -> `zh-Hant`), among `languages`; raises
    UnknownLanguage with the value and the desk's languages when it names none of them."""
    tag = _canonical(value, languages)
    if tag is None or tag not in languages:
        meaning = f" ({tag})" if tag and tag != value.strip() else ""
        raise UnknownLanguage(f"unknown language {value.strip()!r}{meaning}: "
                              f"the desk's languages are {', '.join(languages)}")
    return tag


_QUALITY = re.compile(r"^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$", re.I)


def accepted_languages(header: str) -> list[str]:
    """The ranges of an `Accept-Language` header, most wanted first (RFC 9110: q=0 is refused,
    equal weights keep their order)."""
    ranked = []
    for position, item in enumerate(header.split(",")):
        value, *parameters = item.split(";")
        quality = 1.0
        for parameter in parameters:
            match = _QUALITY.match(parameter)
            if match:
                quality = float(match.group(1))
        if value.strip() and quality > 0:
            ranked.append((-quality, position, value.strip()))
    return [value for _, _, value in sorted(ranked)]


def choose_language(accept_language: str, languages: Sequence[str]) -> str:
    """The desk language to answer a browser in: the first range it accepts that names one;
    else Chinese in the other script when it asks for Chinese the desk only writes in one
    script; else the desk's default."""
    wanted = accepted_languages(accept_language)
    for value in wanted:
        if value == "*":
            return languages[0]
        tag = _canonical(value, languages)
        if tag is not None and tag in languages:
            return tag
    if any(LANGUAGES.get(_canonical(value, languages) or "", LANGUAGES["en"]).chinese for value in wanted):
        return next((tag for tag in languages if LANGUAGES[tag].chinese), languages[0])
    return languages[0]
