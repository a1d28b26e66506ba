"""What a reader's language is called in a CSV file, a form or a browser, to the desk."""

import pytest

from gbaletter.languages import (LANGUAGES, UnknownLanguage, accepted_languages, choose_language,
                                 normalize_language)

DESK = ["en", "zh-Hant", "zh-Hans"]


@pytest.mark.parametrize("value, language", [
    ("en", "en"), ("EN", "en"), ("en-GB", "en"), ("en_US", "en"), (" English ", "en"),
    ("zh-Hant", "zh-Hant"), ("zh-HK", "zh-Hant"), ("zh-TW", "zh-Hant"), ("zh_TW", "zh-Hant"),
    ("zh-MO", "zh-Hant"), ("zh-hant-hk", "zh-Hant"), ("yue", "zh-Hant"), ("yue-HK", "zh-Hant"),
    ("繁體中文", "zh-Hant"), ("Traditional Chinese", "zh-Hant"),
    ("zh-Hans", "zh-Hans"), ("zh-CN", "zh-Hans"), ("zh_CN", "zh-Hans"), ("zh-SG", "zh-Hans"),
    ("zh-Hans-HK", "zh-Hans"),  # the script says more than the region
    ("简体中文", "zh-Hans"), ("yue-Hans", "zh-Hans"),
    ("zh", "zh-Hant"),  # no script or region: the desk's first Chinese language
])
def test_spellings_of_a_language_name_the_desks_language(value, language):
    assert normalize_language(value, DESK) == language


def test_bare_chinese_takes_the_first_chinese_language_of_the_desk():
    assert normalize_language("zh", ["en", "zh-Hans", "zh-Hant"]) == "zh-Hans"


@pytest.mark.parametrize("value, desk, message", [
    ("fr", DESK, "unknown language 'fr': the desk's languages are en, zh-Hant, zh-Hans"),
    ("", DESK, "unknown language '': the desk's languages are en, zh-Hant, zh-Hans"),
    ("zh-CN", ["en", "zh-Hant"], "unknown language 'zh-CN' (zh-Hans): the desk's languages are en, zh-Hant"),
    ("en; drop table", DESK, "unknown language 'en; drop table': the desk's languages are en, zh-Hant, zh-Hans"),
])
def test_an_unknown_language_is_named_with_the_desks_languages(value, desk, message):
    with pytest.raises(UnknownLanguage) as info:
        normalize_language(value, desk)
    assert str(info.value) == message


def test_accept_language_ranks_by_weight_and_drops_refused_ranges():
    assert accepted_languages("en;q=0.5, zh-HK, zh;q=0.8, fr;q=0") == ["zh-HK", "zh", "en"]
    assert accepted_languages("") == []


@pytest.mark.parametrize("header, desk, language", [
    ("zh-HK,zh;q=0.9,en;q=0.8", DESK, "zh-Hant"),
    ("zh-CN,zh;q=0.9", DESK, "zh-Hans"),
    ("fr-FR,en-GB;q=0.7", DESK, "en"),
    ("fr-FR", DESK, "en"),
    ("", DESK, "en"),
    ("*", ["zh-Hant", "en"], "zh-Hant"),
    ("zh-CN", ["en", "zh-Hant"], "zh-Hant"),  # Chinese in the script the desk has, before English
    ("de, zh-TW;q=0.1", ["en", "zh-Hans"], "zh-Hans"),
    ("en;q=0, zh-Hant", DESK, "zh-Hant"),
])
def test_a_browser_is_answered_in_the_language_it_prefers_among_the_desks(header, desk, language):
    assert choose_language(header, desk) == language


def test_every_known_language_has_a_babel_locale():
    from babel import Locale

    for language in LANGUAGES.values():
        assert Locale.parse(language.locale).language in ("en", "zh")
