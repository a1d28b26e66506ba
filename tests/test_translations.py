"""The message catalogues: complete for the desk's languages, loaded as gettext, checked."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from zoneinfo import ZoneInfo

from pathlib import Path

import pytest

from support.workspace import DATA, MINIMAL_CONFIG

from gbaletter import translations
from gbaletter.config import load_workspace
from gbaletter.errors import GbaletterError
from gbaletter.issue.editions import untranslated_labels
from gbaletter.issue.render import template_environment
from gbaletter.translations import (catalogue_path, catalogue_problems, format_day, format_number,
                                    labels, name_fallback, read_catalogue)

CHINESE = ["zh-Hant", "zh-Hans"]


def test_every_label_of_the_package_is_translated_into_both_scripts():
    assert catalogue_problems(["en", *CHINESE]) == []
    found = labels()
    assert "Unsubscribe" in found and "Please choose one of the languages listed." in found
    source = (Path(__file__).parents[1] / "src/gbaletter/tokens.py").read_text(encoding="utf-8")
    line = next(n for n, text in enumerate(source.splitlines(), 1) if 'N_("this link has expired")' in text)
    assert found["this link has expired"] == [f"src/gbaletter/tokens.py:{line}"]


@pytest.mark.parametrize("language, unsubscribe, hello", [
    ("en", "Unsubscribe", "Hi Chan Tai Man,"),
    ("zh-Hant", "取消訂閱", "Chan Tai Man，你好："),
    ("zh-Hans", "退订", "Chan Tai Man，您好："),
])
def test_an_environment_per_language_translates_the_labels(workspace, language, unsubscribe, hello):
    env = template_environment(workspace.templates_dir, language)
    page = env.from_string('{{ _("Unsubscribe") }}|{{ _("Hi %(name)s,", name=name) }}|{{ html_lang }}|'
                           '{{ day | day }}|{{ 12345 | number }}')
    rendered = page.render(name="Chan Tai Man", day=date(2019, 6, 30)).split("|")
    assert rendered[:2] == [unsubscribe, hello]
    assert rendered[3:] == ["30 June 2019" if language == "en" else "2019年6月30日", "12,345"]
    assert env is template_environment(workspace.templates_dir, language)  # cached per language


def test_a_placeholder_stays_escaped_in_a_translated_html_label(workspace):
    env = template_environment(workspace.templates_dir, "zh-Hant")
    html = env.get_template("web/subscribe_sent.html.j2").render(
        newsletter=workspace.config.newsletter, root="./", email="<b>x@example.com</b>", wait_minutes=10,
        lang_query="?lang=zh-Hant")
    assert "&lt;b&gt;x@example.com&lt;/b&gt;" in html and "<strong>" in html and "請查看收件匣" in html
    assert '<html lang="zh-Hant-HK">' in html


def test_days_and_numbers_as_each_language_writes_them():
    day = datetime(2019, 6, 30, 9, 0, tzinfo=ZoneInfo("Asia/Hong_Kong"))
    assert [format_day(day, tag) for tag in ("en", "zh-Hant", "zh-Hans")] == [
        "30 June 2019", "2019年6月30日", "2019年6月30日"]
    assert format_day(date(2019, 1, 2), "en") == "2 January 2019"


def test_an_english_day_is_written_as_babel_writes_it():
    """English days are formatted without Babel (its locale data is ~15 ms of a build): the same
    text as Babel's "d MMMM y" in English, every month, a one-digit day, a year before 1000."""
    from babel.dates import format_date

    for day in [date(2019, month, 1 + month) for month in range(1, 13)] + [date(999, 12, 31), date(2024, 2, 29)]:
        assert format_day(day, "en") == format_date(day, "d MMMM y", locale="en")
    moment = datetime(2019, 6, 30, 23, 30, tzinfo=ZoneInfo("Asia/Hong_Kong"))
    assert format_day(moment, "en") == format_date(moment, "d MMMM y", locale="en") == "30 June 2019"
    assert format_number(12345.5, "zh-Hant") == "12,345.5"


def test_a_translation_with_a_placeholder_its_english_lacks_names_the_file_and_line(tmp_path):
    bad = tmp_path / "messages.po"
    text = catalogue_path("zh-Hant").read_text(encoding="utf-8").replace(
        'msgstr "%(name)s，你好："', 'msgstr "%(nmae)s，你好："')
    bad.write_text(text, encoding="utf-8")
    line = next(number for number, row in enumerate(text.splitlines(), 1) if row == 'msgid "Hi %(name)s,"')
    with pytest.raises(GbaletterError) as info:
        read_catalogue(bad, "zh-Hant")
    assert str(info.value) == (f"{bad}:{line}: the translation uses %(nmae)s, which its msgid "
                               "'Hi %(name)s,' does not have")


def test_a_missing_catalogue_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(translations, "LOCALE_DIR", tmp_path)
    translations.translations.cache_clear()
    try:
        with pytest.raises(GbaletterError, match=r"messages.po: no catalogue for zh-Hans$"):
            translations.translations("zh-Hans")
        assert [what for _, what in catalogue_problems(["zh-Hans"])] == ["no catalogue for zh-Hans"]
    finally:
        translations.translations.cache_clear()


def test_issue_check_lists_a_workspace_label_without_a_translation(workspace_dir):
    (workspace_dir / "gbaletter.toml").write_text(
        MINIMAL_CONFIG.replace("[newsletter]\n", '[newsletter]\nlanguages = ["en", "zh-Hant", "zh-Hans"]\n'),
        encoding="utf-8")
    template = workspace_dir / "templates" / "email" / "_footer.mjml.j2"
    template.parent.mkdir(parents=True, exist_ok=True)
    template.write_text('<mj-text>{{ _("Forward this to a friend") }}</mj-text>\n', encoding="utf-8")
    ws = load_workspace(workspace_dir)
    findings = untranslated_labels(ws)
    assert [where for where, _ in findings] == ["templates/email/_footer.mjml.j2:1"] * 2  # as the workspace names it
    assert findings[0][1] == ("no zh-Hant translation for 'Forward this to a friend' "
                                   "(add it to src/gbaletter/locale/zh_Hant/LC_MESSAGES/messages.po)")
    shutil.rmtree(workspace_dir / "templates")
    assert untranslated_labels(load_workspace(workspace_dir)) == []
    (workspace_dir / "gbaletter.toml").write_text(MINIMAL_CONFIG, encoding="utf-8")
    assert untranslated_labels(load_workspace(workspace_dir)) == []


def test_a_build_with_a_bad_translation_stops_with_one_line_and_writes_nothing(monkeypatch, tmp_path, run_cli):
    from gbaletter.issue import templates

    locale = shutil.copytree(translations.LOCALE_DIR, tmp_path / "locale")
    bad = locale / "zh_Hant" / "LC_MESSAGES" / "messages.po"
    text = bad.read_text(encoding="utf-8").replace('msgstr "%(name)s，你好："', 'msgstr "%(nmae)s，你好："')
    bad.write_text(text, encoding="utf-8")
    line = next(number for number, row in enumerate(text.splitlines(), 1) if row == 'msgid "Hi %(name)s,"')
    desk = shutil.copytree(DATA / "editions", tmp_path / "desk")
    monkeypatch.setattr(translations, "LOCALE_DIR", locale)
    translations.translations.cache_clear()
    templates._environment.cache_clear()
    try:
        result = run_cli(desk, "issue", "build", "2019-W27")
    finally:
        translations.translations.cache_clear()
        templates._environment.cache_clear()
    assert (result.exit_code, result.error_lines) == (1, [
        f"error: {bad}:{line}: the translation uses %(nmae)s, which its msgid 'Hi %(name)s,' does not have"])
    assert not (desk / "issues" / "2019-W27" / "build").exists()


def test_the_fallback_name_is_the_desks_word_through_the_editions_catalogue():
    assert name_fallback("reader", "zh-Hant") == "讀者"
    assert name_fallback("reader", "zh-Hans") == "读者"
    assert name_fallback("reader", "en") == "reader"
    assert name_fallback("Leser", "zh-Hant") == "Leser"  # a word of the desk's own stays as written
