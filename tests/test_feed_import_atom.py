"""`posts import` with tests/data/newsroom.atom.xml: unsafe HTML, relative URLs, Chinese text, and
entries that cannot be imported (no date, a guid seen before, no title, no link)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import lxml.html
import pytest

from gbaletter.content import load_briefs, load_posts

ATOM = Path(__file__).parent / "data" / "newsroom.atom.xml"
HONG_KONG = ZoneInfo("Asia/Hong_Kong")
WEALTH_CONNECT = "2019-06-27-wealth-connect"


@pytest.fixture
def imported(workspace_dir, run_cli):
    result = run_cli(workspace_dir, "posts", "import", str(ATOM))
    assert result.exit_code == 3, result.stderr  # some entries were skipped (issue 23 #10)
    posts = {p.slug: p for p in load_posts(workspace_dir / "posts", HONG_KONG)}
    return workspace_dir, result, posts


def test_good_entries_are_imported_and_each_bad_one_says_why(imported):
    _, result, posts = imported
    assert sorted(posts) == ["2019-06-25-code-and-stars", WEALTH_CONNECT]
    assert result.output.splitlines()[-1] == "3 added, 0 updated, 0 unchanged, 4 skipped"
    assert [line for line in result.error_lines if line.startswith("skipped")] == [
        'skipped entry 2 "An undated note": no date (neither published nor updated)',
        'skipped entry 3 "Wealth Connect (repost)": same guid as entry 1',
        "skipped entry 4 (tag:newsroom.example.org,2019:post-103): no title",
        'skipped entry 5 "An entry without a link": no link',
    ]
    assert result.error_lines[-1] == "error: 4 entries skipped (the reasons are above)"


def test_chinese_text_is_kept(imported):
    _, _, posts = imported
    post = posts[WEALTH_CONNECT]
    assert post.title == "大湾区“跨境理财通”启动"
    assert post.author == "陈小明"
    assert post.excerpt == "香港与广东的居民可以跨境购买理财产品。"  # "Continue reading →" dropped
    assert "<p>香港与广东的居民可以跨境购买理财产品。</p>" in post.body
    assert post.date == datetime(2019, 6, 27, 9, 30, tzinfo=HONG_KONG)  # published, not updated
    assert post.tags == ("finance", "cross-border")


def test_scripts_handlers_iframes_and_styles_are_not_stored(imported):
    root, _, _ = imported
    text = (root / "posts" / f"{WEALTH_CONNECT}.md").read_text(encoding="utf-8")
    for unsafe in ("<script", "stolen", "onclick", "onerror", "steal()", "<iframe", "tracker",
                   "style=", "javascript:"):
        assert unsafe not in text
    assert "<p>Styled text.</p>" in text


def test_relative_links_and_images_become_absolute(imported):
    _, _, posts = imported
    page = lxml.html.fragment_fromstring(posts[WEALTH_CONNECT].body_html, create_parent="div")
    assert page.xpath("//img/@src") == ["https://newsroom.example.org/images/wealth-connect.jpg"]
    assert page.xpath("//img/@alt") == ["理财通"]
    assert page.xpath("//a/@href") == ["https://newsroom.example.org/2019/about/"]


def test_markdown_does_not_reinterpret_imported_html(imported):
    _, _, posts = imported
    html = posts["2019-06-25-code-and-stars"].body_html
    assert "<p>Loose text with *stars* and _underscores_ that Markdown must not touch.</p>" in html
    assert "<pre>first line\n\nthird line</pre>" in html
    assert "<p>After the code.</p>" in html


def test_a_digest_found_by_its_title_becomes_briefs(imported):
    root, result, _ = imported
    briefs = load_briefs(root / "briefs", HONG_KONG)
    assert [(b.lead, b.text, b.link) for b in briefs] == [
        ("Bridge traffic:", "Crossings on the Hong Kong-Zhuhai-Macao Bridge rose 20% in May.",
         "https://newsroom.example.org/bridge/"),
        ("Night trains?", "A sleeper service will link *Shenzhen* and Beijing from July.",
         "https://newsroom.example.org/2019/06/28/night-trains/"),
    ]
    assert briefs[1].text_html == "A sleeper service will link <em>Shenzhen</em> and Beijing from July."
    assert all(b.tags == ("transport", "briefs") for b in briefs)
    assert ("warning: briefs/2019-06-28-gba-briefs-28-6-2019.yaml: paragraph 1 has no lead-in, "
            "so it is not a brief item; left out") in result.error_lines


def test_importing_again_is_quiet_and_changes_nothing(imported, run_cli):
    root, _, _ = imported
    files = sorted((root / "posts").iterdir()) + sorted((root / "briefs").iterdir())
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in files]
    result = run_cli(root, "posts", "import", str(ATOM))
    assert result.exit_code == 3
    assert result.output == "0 added, 0 updated, 3 unchanged, 4 skipped\n"
    assert not any(line.startswith("warning") for line in result.error_lines)
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in files] == before


def test_a_name_taken_by_a_hand_written_post_is_not_overwritten(workspace_dir, run_cli):
    mine = workspace_dir / "posts" / f"{WEALTH_CONNECT}.md"
    mine.write_text("---\ntitle: Mine\ndate: 2019-06-27\n---\n\nWritten by hand.\n", encoding="utf-8")
    assert run_cli(workspace_dir, "posts", "import", str(ATOM)).exit_code == 3  # 4 skipped
    assert mine.read_text(encoding="utf-8").endswith("Written by hand.\n")
    assert (workspace_dir / "posts" / f"{WEALTH_CONNECT}-2.md").exists()


def test_a_chinese_title_gives_a_readable_stable_name(workspace_dir, run_cli, tmp_path):
    feed = tmp_path / "chinese.xml"
    feed.write_text(
        '<rss version="2.0"><channel><title>新闻</title><item><title>横琴新区</title>'
        "<link>https://news.example.cn/?p=7</link><guid>https://news.example.cn/?p=7</guid>"
        "<pubDate>Wed, 26 Jun 2019 08:00:00 +0800</pubDate><description>横琴。</description>"
        "</item></channel></rss>", encoding="utf-8")
    for _ in range(2):
        assert run_cli(workspace_dir, "posts", "import", str(feed)).exit_code == 0
    names = [p.name for p in (workspace_dir / "posts").iterdir()]
    assert names == ["2019-06-26-横琴新区.md"]
