"""One build per edition (issue 19): `issue build` on the trilingual desk of tests/data/editions
writes email.<lang>.html/.txt for each of its languages, each in its own language."""

from __future__ import annotations

import json
import shutil

import pytest
from lxml import html as lxml_html

from gbaletter.issue.links import read_links
from support.workspace import DATA

EDITIONS = DATA / "editions"


@pytest.fixture
def desk(tmp_path):  # type: ignore[no-untyped-def]
    root = tmp_path / "desk"
    shutil.copytree(EDITIONS, root)
    return root


def _edition(build, language):  # type: ignore[no-untyped-def]
    html = (build / f"email.{language}.html").read_text(encoding="utf-8")
    return lxml_html.fromstring(html), (build / f"email.{language}.txt").read_text(encoding="utf-8")


def test_each_language_of_the_desk_is_built_once_in_its_own_words(desk, run_cli):
    built = run_cli(desk, "issue", "build", "2019-W27")
    assert built.exit_code == 0, built.stderr
    build = desk / "issues" / "2019-W27" / "build"
    info = json.loads((build / "build.json").read_text(encoding="utf-8"))
    assert {language: edition["subject"] for language, edition in info["editions"].items()} == {
        "en": "GBA Weekly #2: Macau's light rail heads for Hengqin",
        "zh-Hant": "大灣區週報第2期：澳門輕軌伸向橫琴",
        "zh-Hans": "大湾区周报第2期：澳门轻轨伸向横琴"}
    # the default language's edition is also email.html (what a one-language desk has)
    assert (build / "email.en.html").read_bytes() == (build / "email.html").read_bytes()

    english, english_text = _edition(build, "en")
    hant, hant_text = _edition(build, "zh-Hant")
    hans, hans_text = _edition(build, "zh-Hans")
    assert [doc.get("lang") for doc in (english, hant, hans)] == ["en", "zh-Hant-HK", "zh-Hans"]
    assert "7 July 2019" in english_text and "2019年7月7日" in hant_text and "2019年7月7日" in hans_text
    # labels from each catalogue, the greeting around the send-time name
    assert "{{name}}，你好：" in hant_text and "焦點新聞" in hant_text and "取消訂閱：" in hant_text
    assert "{{name}}，您好：" in hans_text and "要闻" in hans_text and "退订：" in hans_text
    assert "Hi {{name}}," in english_text and "Unsubscribe:" in english_text
    # each story in the edition's text where it has one: the light rail post in Traditional
    assert "澳門輕軌將延伸至橫琴" in hant.text_content()
    assert "light rail" in english.text_content() and "澳門輕軌" not in english.text_content()
    # the intro the manifest gives each edition
    assert "本週澳門向西望" in hant_text and "本周澳门向西望" in hans_text
    # a link only the Traditional edition has (its translation's own URL) belongs to the same story
    links = {link.url: link for link in read_links(build)}
    translated = links["https://gba.example.org/zh-hant/2019/07/02/macau-light-rail-hengqin/"]
    original = links["https://gba.example.org/2019/07/02/macau-light-rail-hengqin/"]
    assert (translated.section, translated.story) == (original.section, original.story) == (
        "featured", "2019-07-02-macau-light-rail-hengqin")
    assert "other" not in {link.section for link in links.values()}


def test_a_changed_translation_makes_the_build_stale(desk, run_cli):
    assert run_cli(desk, "issue", "build", "2019-W27").exit_code == 0
    translation = desk / "posts" / "2019-07-02-macau-light-rail-hengqin.zh-Hant.md"
    translation.write_text(translation.read_text(encoding="utf-8") + "\n補充一句。\n", encoding="utf-8")
    checked = run_cli(desk, "issue", "check", "2019-W27", "--no-browser")
    assert "build-stale" in checked.output + checked.stderr


def test_a_one_language_desk_builds_no_edition_files(sample_workspace, run_cli):
    assert run_cli(sample_workspace, "issue", "build", "2019-W26").exit_code == 0
    build = sample_workspace / "issues" / "2019-W26" / "build"
    assert not list(build.glob("email.*.html"))
    assert "editions" not in json.loads((build / "build.json").read_text(encoding="utf-8"))


def test_each_edition_is_screenshot_at_desktop_and_phone_width(desk, run_cli):
    assert run_cli(desk, "issue", "build", "2019-W27").exit_code == 0
    shot = run_cli(desk, "issue", "screenshot", "2019-W27")
    assert shot.exit_code == 0, shot.stderr
    build = desk / "issues" / "2019-W27" / "build"
    for language in ("en", "zh-Hant", "zh-Hans"):
        for name, width in (("desktop", 800), ("mobile", 375)):
            png = (build / f"{name}.{language}.png").read_bytes()
            assert png[:8] == b"\x89PNG\r\n\x1a\n"
            assert int.from_bytes(png[16:20], "big") == width  # IHDR width


def test_a_story_without_a_text_in_the_edition_is_labelled_with_its_language(desk, run_cli):
    assert run_cli(desk, "issue", "build", "2019-W27").exit_code == 0
    build = desk / "issues" / "2019-W27" / "build"
    hans, hans_text = _edition(build, "zh-Hans")
    hant, _ = _edition(build, "zh-Hant")
    # the light rail story has English and Traditional texts, no Simplified one
    light_rail = hans.xpath("//h3[a[contains(., 'light rail')]]")[0]
    assert light_rail.get("lang") == "en" and "英文原文" in hans.text_content()
    assert "(英文原文)" in hans_text
    # in the Traditional edition it is in its own language: no label, no lang of its own
    assert "澳門輕軌將延伸至橫琴" in hant.text_content() and "原文" not in hant.text_content().split("簡訊")[0]
    assert hant.xpath("//h3")[0].get("lang") is None


def test_a_brief_without_a_text_in_the_edition_is_labelled_with_its_language(desk, run_cli):
    assert run_cli(desk, "issue", "build", "2019-W27").exit_code == 0
    build = desk / "issues" / "2019-W27" / "build"
    # the briefs file is written in Simplified only: in the English and Traditional editions each
    # item carries its language's name over it (from the catalogue) and lang="zh-Hans" on its words
    for language, label in (("en", "In Simplified Chinese"), ("zh-Hant", "簡體中文原文")):
        doc, text = _edition(build, language)
        items = doc.xpath("//span[@lang][strong]")
        assert [item.get("lang") for item in items] == ["zh-Hans", "zh-Hans"], language
        assert [item.xpath("string(strong)") for item in items] == ["深圳湾口岸：", "横琴："]
        for item in items:
            above = item.getprevious().getprevious()  # the label, then <br>
            assert above.tag == "span" and above.text_content() == label
            assert item.getnext().tag == "a"  # "More" stays outside, in the edition's language
        assert text.count(f"({label})") == 2, language
        item_text = text.split("* 深圳湾口岸：", 1)[1].splitlines()
        assert item_text[1].strip() == f"({label})" and item_text[2].strip().startswith("https://")
    # in its own edition: no label, no lang of its own
    hans, hans_text = _edition(build, "zh-Hans")
    assert not hans.xpath("//span[@lang]")
    item_text = hans_text.split("* 深圳湾口岸：", 1)[1].splitlines()
    assert item_text[1].strip().startswith("https://")
    assert "深圳湾口岸：深圳湾口岸7月起" in hans.text_content()


def test_a_briefs_file_in_an_unknown_language_is_one_line(desk, run_cli):
    briefs = desk / "briefs" / "2019-07-04-gba-briefs.yaml"
    briefs.write_text(briefs.read_text(encoding="utf-8").replace("lang: zh-Hans", "lang: fr"), encoding="utf-8")
    refused = run_cli(desk, "issue", "build", "2019-W27")
    assert refused.exit_code == 1
    assert refused.error_lines == ["error: briefs/2019-07-04-gba-briefs.yaml:2: 'lang': unknown language 'fr': "
                                   "the desk's languages are en, zh-Hant, zh-Hans"]
    assert not (desk / "issues" / "2019-W27" / "build").exists()


def test_the_manifest_can_leave_untranslated_stories_out_of_an_edition(desk, run_cli):
    manifest = desk / "issues" / "2019-W27" / "issue.yaml"
    manifest.write_text(manifest.read_text(encoding="utf-8") + "untranslated: leave-out\n", encoding="utf-8")
    assert run_cli(desk, "issue", "build", "2019-W27").exit_code == 0
    build = desk / "issues" / "2019-W27" / "build"
    english, english_text = _edition(build, "en")
    hans, hans_text = _edition(build, "zh-Hans")
    hant, _ = _edition(build, "zh-Hant")
    # the light rail story: English and Traditional texts only
    assert "light rail" in english.text_content() and "澳門輕軌" in hant.text_content()
    assert "light rail" not in hans.text_content() and "原文" not in hans_text
    # the Hengqin story is written in Traditional only; the briefs file in Simplified only
    assert "橫琴粵澳深度合作區的第一批澳門企業" in hant.text_content()
    assert "Hengqin" not in english.xpath("string(//h3[2])") and "深圳湾口岸" not in english_text
    assert "深圳湾口岸" in hans_text
    assert (build / "email.html").read_bytes() == (build / "email.en.html").read_bytes()


def test_an_unknown_untranslated_choice_is_one_line(desk, run_cli):
    manifest = desk / "issues" / "2019-W27" / "issue.yaml"
    manifest.write_text(manifest.read_text(encoding="utf-8") + "untranslated: hide\n", encoding="utf-8")
    refused = run_cli(desk, "issue", "build", "2019-W27")
    assert refused.exit_code == 1
    assert refused.error_lines == ["error: issues/2019-W27/issue.yaml: 'untranslated' must be label or "
                                   "leave-out, not 'hide'"]


def test_issue_check_looks_at_each_editions_own_email(desk, run_cli):
    manifest = desk / "issues" / "2019-W27" / "issue.yaml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace(
        "本週澳門向西望：輕軌將跨海到達橫琴。", "本週澳門向西望：[輕軌](http://gba.example.org/light-rail)將跨海到達橫琴。"),
        encoding="utf-8")
    assert run_cli(desk, "issue", "build", "2019-W27").exit_code == 0
    checked = run_cli(desk, "issue", "check", "2019-W27", "--no-browser")
    # only the Traditional edition has this link; the finding names where it was written
    link_http = [line.split() for line in checked.output.splitlines() if "link-http" in line]
    assert [words[:3] for words in link_http] == [["warning", "link-http", "issues/2019-W27/issue.yaml:20"]]


def test_each_edition_passes_the_checks_in_chromium(desk, run_cli):
    assert run_cli(desk, "issue", "build", "2019-W27").exit_code == 0
    checked = run_cli(desk, "issue", "check", "2019-W27")
    assert checked.exit_code == 0, checked.output
    assert "0 errors" in checked.output.splitlines()[-1]


def test_a_label_without_a_translation_is_an_error_and_no_edition_is_sent(desk, run_cli, mail_env):
    # the desk's own footer, with a label the catalogues do not have: English would leak into
    # the Chinese editions
    footer = desk / "templates" / "email" / "_footer.mjml.j2"
    footer.parent.mkdir(parents=True)
    footer.write_text('<mj-section><mj-column><mj-text>\n  {{ _("Forward this to a friend") }}\n'
                      '  <a href="{{ unsubscribe_url }}">{{ _("Unsubscribe") }}</a>\n'
                      "</mj-text></mj-column></mj-section>\n", encoding="utf-8")
    assert run_cli(desk, "subscribers", "add", "chan.tai.man@example.com", "--language", "zh-HK").exit_code == 0
    assert run_cli(desk, "issue", "build", "2019-W27").exit_code == 0
    checked = run_cli(desk, "issue", "check", "2019-W27", "--no-browser")
    assert checked.exit_code == 1
    errors = [line.split(None, 3) for line in checked.output.splitlines() if line.startswith("error")]
    assert [(code, where) for _, code, where, _ in errors] == [
        ("label-untranslated", "templates/email/_footer.mjml.j2:2")] * 2
    assert [what.split(" (")[0] for _, _, _, what in errors] == [
        f"no {language} translation for 'Forward this to a friend'" for language in ("zh-Hant", "zh-Hans")]
    refused = run_cli(desk, "issue", "send", "2019-W27", "--segment", "language:zh-Hant")
    assert refused.exit_code == 1
    assert refused.error_lines[0] == ("error: issue 2019-W27 has 2 check error(s); fix them (gbaletter issue "
                                      "check 2019-W27) or pass --ignore-check:")
    assert mail_env.received == []
