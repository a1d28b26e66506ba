"""`posts import` with a Traditional Chinese WordPress feed (tests/data/zh-hant-feed.xml):
continue-reading stubs in Chinese, a digest with full-width lead-ins, readable file names."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
import yaml

from support.workspace import DATA

from gbaletter.content import load_briefs, load_posts

FEED = DATA / "zh-hant-feed.xml"
HONG_KONG = ZoneInfo("Asia/Hong_Kong")


@pytest.fixture
def imported(workspace_dir, run_cli):  # type: ignore[no-untyped-def]
    result = run_cli(workspace_dir, "posts", "import", str(FEED))
    assert result.exit_code == 0, result.stderr
    return workspace_dir, result


def test_chinese_titles_give_readable_stable_file_names(imported, run_cli):
    root, result = imported
    assert sorted(p.name for p in (root / "posts").iterdir()) == [
        "2019-07-02-澳門輕軌將延伸至橫琴.md",  # ?p=2101 is no name: the title is
        "2019-07-03-橫琴合作區.md"]              # the website's own (percent-encoded) slug
    assert [p.name for p in (root / "briefs").iterdir()] == ["2019-07-04-大灣區簡訊-2019年7月4日.yaml"]
    assert result.output.splitlines()[-1] == "3 added, 0 updated, 0 unchanged"
    again = run_cli(root, "posts", "import", str(FEED))
    assert again.output.splitlines()[-1] == "0 added, 0 updated, 3 unchanged"


def test_chinese_continue_reading_stubs_are_dropped(imported):
    root, _ = imported
    posts = {post.title: post for post in load_posts(root / "posts", HONG_KONG)}
    light_rail = posts["澳門輕軌將延伸至橫琴"]
    assert light_rail.excerpt == "澳門特區政府已選定輕軌橫琴延伸段的走線，線路由蓮花大橋出發…"
    assert "繼續閱讀" not in light_rail.body and "延伸段落成後" in light_rail.body
    hengqin = posts["橫琴粵澳深度合作區迎來首批澳門企業"]
    assert hengqin.excerpt == "合作區的稅務優惠令澳門中小企業願意跨境發展。"
    assert "閱讀全文" not in hengqin.body


def test_a_chinese_digest_splits_at_full_width_lead_ins(imported):
    root, result = imported
    briefs = load_briefs(root / "briefs", HONG_KONG)
    assert [(brief.lead, brief.text) for brief in briefs] == [
        ("深圳灣口岸：", "7月起延長通關時間，旅客在凌晨一時前都可過關。"),
        ("橫琴：", "合作區公佈首批澳門企業名單，共十二家。"),
        ("港珠澳大橋：", "穿梭巴士班次增至每五分鐘一班。"),
        ("編者按：", "本期簡訊由澳門記者站整理。")]
    assert briefs[0].link == "https://gba.example.org/zh-hant/2019/07/04/shenzhen-bay/"
    assert briefs[1].link == "https://gba.example.org/zh-hant/?p=2103"
    data = yaml.safe_load(next((root / "briefs").iterdir()).read_text(encoding="utf-8"))
    assert data["tags"] == ["briefs"]
    assert "left out" not in result.stderr  # every paragraph had its lead-in


def test_a_trilingual_desk_marks_the_feeds_language_on_what_it_imports(workspace_dir, run_cli):
    config = workspace_dir / "gbaletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "[newsletter]\n", '[newsletter]\nlanguages = ["en", "zh-Hant", "zh-Hans"]\n'), encoding="utf-8")
    assert run_cli(workspace_dir, "posts", "import", str(FEED)).exit_code == 0
    assert {post.lang for post in load_posts(workspace_dir / "posts", HONG_KONG)} == {"zh-Hant"}  # zh-HK
    assert {brief.lang for brief in load_briefs(workspace_dir / "briefs", HONG_KONG)} == {"zh-Hant"}
    listed = run_cli(workspace_dir, "posts", "translations").output
    assert "2019-07-02-澳門輕軌將延伸至橫琴" in listed and "original" in listed


def test_an_english_desk_imports_the_feed_without_a_language(imported):
    root, _ = imported
    assert {post.lang for post in load_posts(root / "posts", HONG_KONG)} == {""}
