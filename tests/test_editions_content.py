"""Content in several languages: stories and their translations, OpenCC-derived texts, manifests."""

from __future__ import annotations

import shutil

import pytest
import yaml

from support.workspace import DATA

from gbaletter.config import load_workspace
from gbaletter.content import frontmatter
from gbaletter.errors import GbaletterError
from gbaletter.issue.manifest import EditionText, load_manifest, manifest_text
from gbaletter.textwidth import CLOSING, display_width

EDITIONS = DATA / "editions"
TRADITIONAL_ONLY = set("橫粵區門於東來餘鰂魚與為這說們會發體場車請讀續閱業優稅願")
HENGQIN = "2019-07-03-hengqin-cooperation-zone"
LIGHT_RAIL = "2019-07-02-macau-light-rail-hengqin"


@pytest.fixture
def desk(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    root = tmp_path / "desk"
    shutil.copytree(EDITIONS, root)
    monkeypatch.chdir(root)  # messages name files relative to the current folder
    return root


def _table(output: str) -> dict[str, list[str]]:
    rows = [line.split(None, 1) for line in output.splitlines()[1:] if line.startswith("2019-")]
    return {key: [cell.strip() for cell in rest.split("  ") if cell.strip()] for key, rest in rows}


def test_each_story_is_listed_with_its_text_in_every_language(desk, run_cli):
    result = run_cli(desk, "posts", "translations")
    assert result.exit_code == 0, result.stderr
    assert result.output.splitlines()[0].split() == ["id", "en", "zh-Hant", "zh-Hans"]
    assert _table(result.output) == {
        "2019-07-02-macau-light-rail-hengqin": ["original", "translated", "-"],
        "2019-07-03-hengqin-cooperation-zone": ["-", "original", "-"],  # lang: zh-HK, read as zh-Hant
        "2019-07-04-gba-briefs": ["-", "-", "original"]}


def test_derived_simplified_is_marked_and_spells_names_as_the_glossary(desk, run_cli):
    result = run_cli(desk, "posts", "derive", HENGQIN, "--to", "zh-Hans")
    assert result.exit_code == 0, result.stderr
    path = desk / "posts" / f"{HENGQIN}.zh-Hans.md"
    assert result.output == f"wrote posts/{HENGQIN}.zh-Hans.md (zh-Hans, converted by hk2s; review it)\n"
    meta, body = frontmatter.split(path.read_text(encoding="utf-8"), "derived")
    assert (meta["lang"], meta["translation_of"], meta["converted"]) == ("zh-Hans", HENGQIN, "hk2s")
    assert meta["title"] == "横琴粤澳深度合作区的第一批澳门企业"
    assert meta["excerpt"] == "于东来说，合作区的税务优惠令澳门中小企业愿意跨境发展。"
    assert "于东来说：「这会为两地居民带来方便。」" in body and "余先生在鲗鱼涌经营贸易公司" in body
    assert not set(meta["title"] + meta["excerpt"] + body) & TRADITIONAL_ONLY
    listed = _table(run_cli(desk, "posts", "translations").output)
    assert listed[HENGQIN] == ["-", "original", "converted (hk2s)"]
    assert "1 converted by OpenCC: review them" in run_cli(desk, "posts", "translations").output
    assert run_cli(desk, "posts", "derive", HENGQIN, "--to", "zh-Hans").exit_code == 0  # derived again


def test_a_simplified_briefs_file_derives_its_traditional_edition(desk, run_cli):
    assert run_cli(desk, "posts", "derive", "2019-07-04-gba-briefs", "--to", "zh-Hant").exit_code == 0
    data = yaml.safe_load((desk / "briefs" / "2019-07-04-gba-briefs.zh-Hant.yaml").read_text(encoding="utf-8"))
    assert (data["lang"], data["translation_of"], data["converted"]) == ("zh-Hant", "2019-07-04-gba-briefs", "s2hk")
    assert [item["lead"] for item in data["items"]] == ["深圳灣口岸", "橫琴"]
    assert data["items"][1]["text"] == "橫琴粵澳深度合作區公佈首批澳門企業名單，共十二家。"
    assert data["items"][1]["link"].endswith("#hengqin")


def test_a_light_rail_translation_derives_simplified_from_the_traditional_one(desk, run_cli):
    assert run_cli(desk, "posts", "derive", LIGHT_RAIL, "--to", "zh-Hans").exit_code == 0
    meta, _ = frontmatter.split((desk / "posts" / f"{LIGHT_RAIL}.zh-Hans.md").read_text(encoding="utf-8"), "x")
    assert meta["title"] == "澳门轻轨将延伸至横琴" and meta["translation_of"] == LIGHT_RAIL


@pytest.mark.parametrize("args, message", [
    ((HENGQIN, "--to", "zh-Hant"), f"error: posts/{HENGQIN}.md is a zh-Hant text an editor wrote "
                                   "(no 'converted'); it is left as it is"),
    (("2019-07-99-nothing", "--to", "zh-Hans"), "error: no post or briefs file '2019-07-99-nothing' "
                                                "(a translation's id is its original's)"),
])
def test_derive_refuses_what_it_must_not_write(desk, run_cli, args, message):
    before = sorted(p.name for p in (desk / "posts").iterdir())
    result = run_cli(desk, "posts", "derive", *args)
    assert (result.exit_code, result.error_lines) == (1, [message])
    assert sorted(p.name for p in (desk / "posts").iterdir()) == before


def test_an_english_only_story_has_nothing_to_derive_from(desk, run_cli):
    (desk / "posts" / f"{LIGHT_RAIL}.zh-Hant.md").unlink()
    result = run_cli(desk, "posts", "derive", LIGHT_RAIL, "--to", "zh-Hans")
    assert result.error_lines == [f"error: '{LIGHT_RAIL}' has no zh-Hant text to derive zh-Hans from (it has en)"]


@pytest.mark.parametrize("name, front, message", [
    ("bad-lang.md", "lang: fr\n",
     "posts/bad-lang.md:4: 'lang': unknown language 'fr': the desk's languages are en, zh-Hant, zh-Hans"),
    ("orphan.zh-Hans.md", "lang: zh-Hans\ntranslation_of: 2019-07-01-no-such-post\n",
     "posts/orphan.zh-Hans.md:5: 'translation_of': there is no post '2019-07-01-no-such-post'"),
    ("second.md", f"lang: zh-TW\ntranslation_of: {LIGHT_RAIL}\n",
     f"posts/second.md:4: a second zh-Hant text of '{LIGHT_RAIL}' (the first is posts/{LIGHT_RAIL}.zh-Hant.md)"),
    ("same.md", f"lang: en\ntranslation_of: {LIGHT_RAIL}\n",
     f"posts/same.md:4: 'lang' is en, the language of its original '{LIGHT_RAIL}'"),
    ("chain.md", f"lang: zh-Hans\ntranslation_of: {LIGHT_RAIL}.zh-Hant\n",
     f"posts/chain.md:5: 'translation_of': '{LIGHT_RAIL}.zh-Hant' is itself a translation (of '{LIGHT_RAIL}'); "
     "name the original"),
])
def test_bad_translations_are_one_line_naming_the_file(desk, run_cli, name, front, message):
    (desk / "posts" / name).write_text(f"---\ntitle: 輕軌\ndate: 2019-07-02\n{front}---\n\n正文。\n",
                                       encoding="utf-8")
    result = run_cli(desk, "posts", "translations")
    assert (result.exit_code, result.error_lines) == (1, [f"error: {message}"])


@pytest.mark.parametrize("name, front, message", [
    ("orphan.zh-Hans.md", "lang: zh-Hans\ntranslation_of: 2019-07-01-no-such-post\n",
     "posts/orphan.zh-Hans.md:5: 'translation_of': there is no post '2019-07-01-no-such-post'"),
    ("second.md", f"lang: zh-TW\ntranslation_of: {LIGHT_RAIL}\n",
     f"posts/second.md:4: a second zh-Hant text of '{LIGHT_RAIL}' (the first is posts/{LIGHT_RAIL}.zh-Hant.md)"),
])
def test_a_bad_translation_stops_the_build_with_one_line_and_nothing_written(desk, run_cli, name, front, message):
    (desk / "posts" / name).write_text(f"---\ntitle: 輕軌\ndate: 2019-07-02\n{front}---\n\n正文。\n",
                                       encoding="utf-8")
    result = run_cli(desk, "issue", "build", "2019-W27")
    assert (result.exit_code, result.error_lines) == (1, [f"error: {message}"])
    assert not (desk / "issues" / "2019-W27" / "build").exists()


def test_issue_new_leaves_translations_out(desk, run_cli):
    result = run_cli(desk, "issue", "new", "--week", "2019-W27", "--id", "W27-again", "--tag", "transport",
                     "--tag", "policy", "--tag", "briefs")
    assert result.exit_code == 0, result.stderr
    manifest = load_manifest(load_workspace(desk), "W27-again")
    assert set(manifest.featured + manifest.posts) == {LIGHT_RAIL, HENGQIN}
    assert manifest.briefs == ("2019-07-04-gba-briefs-1", "2019-07-04-gba-briefs-2")


def test_the_manifest_gives_each_edition_its_subject_preheader_and_intro(desk):
    ws = load_workspace(desk)
    manifest = load_manifest(ws, "2019-W27")
    assert manifest.text("en").subject == "GBA Weekly #2: Macau's light rail heads for Hengqin"
    assert manifest.text("zh-Hant") == EditionText("大灣區週報第2期：澳門輕軌伸向橫琴",
                                                   "另有橫琴首批澳門企業、深圳灣口岸延長通關",
                                                   "本週澳門向西望：輕軌將跨海到達橫琴。")
    assert manifest.text("zh-Hans").subject == "大湾区周报第2期：澳门轻轨伸向横琴"
    path = desk / "issues" / "2019-W27" / "issue.yaml"
    path.write_text(manifest_text(manifest, {}), encoding="utf-8")
    assert load_manifest(ws, "2019-W27") == manifest


@pytest.mark.parametrize("old, new, message", [
    ("  zh-Hans:\n", "  fr:\n", "'editions': unknown language 'fr': the desk's languages are en, zh-Hant, zh-Hans"),
    ("  zh-Hans:\n", "  en:\n", "'editions' en: en is the desk's default language; its subject, preheader "
                                "and intro are the top-level keys"),
    ("  zh-Hans:\n", "  zh-HK:\n", "'editions' zh-HK: zh-Hant is given twice"),
    ('    subject: "大湾区周报第2期：澳门轻轨伸向横琴"\n', "", "'editions' zh-Hans: 'subject' is empty"),
])
def test_a_bad_edition_in_the_manifest_is_one_line(desk, old, new, message):
    path = desk / "issues" / "2019-W27" / "issue.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    with pytest.raises(GbaletterError) as info:
        load_manifest(load_workspace(desk), "2019-W27")
    assert str(info.value) == f"issues/2019-W27/issue.yaml:21: {message}"  # the line of the edition's language


@pytest.mark.parametrize("old, new, message", [
    (f'  - "{HENGQIN}"\n', f'  - "{LIGHT_RAIL}.zh-Hant"\n',
     f"posts/{LIGHT_RAIL}.zh-Hant.md: is a translation of '{LIGHT_RAIL}'; list the original in 'featured'"),
])
def test_a_build_names_a_translation_listed_as_a_story(desk, run_cli, old, new, message):
    path = desk / "issues" / "2019-W27" / "issue.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    result = run_cli(desk, "issue", "build", "2019-W27")
    assert (result.exit_code, result.error_lines) == (1, [f"error: {message}"])


def test_a_build_names_a_briefs_translation_listed_in_the_manifest(desk, run_cli):
    assert run_cli(desk, "posts", "derive", "2019-07-04-gba-briefs", "--to", "zh-Hant").exit_code == 0
    path = desk / "issues" / "2019-W27" / "issue.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        '  - "2019-07-04-gba-briefs-2"', '  - "2019-07-04-gba-briefs.zh-Hant-2"'), encoding="utf-8")
    result = run_cli(desk, "issue", "build", "2019-W27")
    assert (result.exit_code, result.error_lines) == (1, [
        "error: briefs/2019-07-04-gba-briefs.zh-Hant.yaml: is a translation of '2019-07-04-gba-briefs'; "
        "list the original in 'briefs'"])


def test_a_build_names_a_post_in_a_language_the_desk_does_not_write(desk, run_cli):
    post = desk / "posts" / f"{HENGQIN}.md"
    post.write_text(post.read_text(encoding="utf-8").replace("lang: zh-HK", "lang: pt"), encoding="utf-8")
    result = run_cli(desk, "issue", "build", "2019-W27")
    assert result.error_lines == [f"error: posts/{HENGQIN}.md:7: 'lang': unknown language 'pt': "
                                  "the desk's languages are en, zh-Hant, zh-Hans"]
    assert not (desk / "issues" / "2019-W27" / "build").exists()


def test_issue_check_lists_untranslated_stories_and_the_texts_opencc_wrote(desk, run_cli):
    def findings(code: str) -> list[list[str]]:
        assert run_cli(desk, "issue", "build", "2019-W27").exit_code == 0
        output = run_cli(desk, "issue", "check", "2019-W27", "--no-browser").output
        return [line.split(None, 3) for line in output.splitlines() if f" {code} " in line]

    assert [(where, message) for _, _, where, message in findings("story-untranslated")] == [
        (f"posts/{LIGHT_RAIL}.md", f"no zh-Hans text of '{LIGHT_RAIL}': "
                                   f"`gbaletter posts derive {LIGHT_RAIL} --to zh-Hans` or translate it"),
        (f"posts/{HENGQIN}.md", f"no en text of '{HENGQIN}': translate it"),
        (f"posts/{HENGQIN}.md", f"no zh-Hans text of '{HENGQIN}': "
                                f"`gbaletter posts derive {HENGQIN} --to zh-Hans` or translate it"),
        ("briefs/2019-07-04-gba-briefs.yaml", "no en text of '2019-07-04-gba-briefs': translate it"),
        ("briefs/2019-07-04-gba-briefs.yaml", "no zh-Hant text of '2019-07-04-gba-briefs': "
                                              "`gbaletter posts derive 2019-07-04-gba-briefs --to zh-Hant` or "
                                              "translate it")]
    run_cli(desk, "posts", "derive", HENGQIN, "--to", "zh-Hans")
    run_cli(desk, "posts", "derive", "2019-07-04-gba-briefs", "--to", "zh-Hant")
    converted = findings("text-converted")
    assert [(severity, where) for severity, _, where, _ in converted] == [
        ("warning", f"posts/{HENGQIN}.zh-Hans.md"), ("warning", "briefs/2019-07-04-gba-briefs.zh-Hant.yaml")]
    assert converted[0][3] == (f"zh-Hans text written by OpenCC (hk2s) from '{HENGQIN}': review it, "
                               "then remove 'converted'")
    assert len(findings("story-untranslated")) == 3
    assert findings("label-untranslated") == []


def test_a_chinese_subject_is_measured_in_columns_and_the_text_part_wrapped_by_them(desk, run_cli):
    path = desk / "issues" / "2019-W27" / "issue.yaml"
    # 41 characters, 81 columns
    subject = "大灣區週報第2期：澳門輕軌伸向橫琴，首批澳門企業進駐合作區，深圳灣口岸延長通關時間"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "subject: \"GBA Weekly #2: Macau's light rail heads for Hengqin\"", f'subject: "{subject}"'), encoding="utf-8")
    assert run_cli(desk, "issue", "build", "2019-W27").exit_code == 0
    result = run_cli(desk, "issue", "check", "2019-W27", "--no-browser")
    [line] = [line for line in result.output.splitlines() if "subject-long" in line]
    assert line.endswith(f"the subject is 81 columns wide ({len(subject)} characters): inboxes cut it after "
                         "~78 columns, phones after ~40")
    text = (desk / "issues" / "2019-W27" / "build" / "email.txt").read_text(encoding="utf-8")
    chinese = [line for line in text.splitlines() if any(display_width(c) == 2 for c in line)]
    assert chinese and all(display_width(line) <= 72 for line in chinese)
    assert not any(line[0] in CLOSING for line in text.splitlines() if line)


def test_a_long_subject_points_at_the_manifests_own_line_below_the_editions(desk, run_cli):
    """A finding about the subject names the manifest's top-level `subject:`, not an edition's
    indented one that comes before it."""
    path = desk / "issues" / "2019-W27" / "issue.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "subject: \"GBA Weekly #2: Macau's light rail heads for Hengqin\"",
        'subject: "GBA Weekly #2: Macau\'s light rail heads for Hengqin, and the first Macau companies settle"')
    head, editions = text.split("editions:\n")
    path.write_text(f"editions:\n{editions}{head}", encoding="utf-8")
    line = next(n for n, row in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                if row.startswith("subject:"))
    assert line > 10
    assert run_cli(desk, "issue", "build", "2019-W27").exit_code == 0
    result = run_cli(desk, "issue", "check", "2019-W27", "--no-browser")
    [finding] = [row for row in result.output.splitlines() if "subject-long" in row]
    assert f"issues/2019-W27/issue.yaml:{line} " in finding
