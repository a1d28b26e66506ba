"""`posts import` with a WordPress tag feed (tests/data): 8 posts and a briefs digest of 4 items."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import lxml.html
import pytest
from support.workspace import FEED

from gbaletter.content import load_briefs, load_posts

HONG_KONG = ZoneInfo("Asia/Hong_Kong")
BRIEFS_FILE = "2019-06-25-gba-briefs-25-6-2019.yaml"


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every content file's bytes and modification time, to prove an import touched nothing."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for folder in ("posts", "briefs") for p in sorted((root / folder).iterdir())}


@pytest.fixture
def imported(workspace_dir, run_cli):
    result = run_cli(workspace_dir, "posts", "import", str(FEED))
    assert result.exit_code == 0, result.stderr
    return workspace_dir, result


def test_the_feed_gives_eight_posts_and_four_briefs(imported):
    root, result = imported
    posts = load_posts(root / "posts", HONG_KONG)
    briefs = load_briefs(root / "briefs", HONG_KONG)
    assert len(posts) == 8 and len(briefs) == 4
    assert result.output.splitlines()[-1] == "9 added, 0 updated, 0 unchanged"
    assert f"added briefs/{BRIEFS_FILE} (4 briefs)" in result.output
    assert result.stderr == ""


def test_posts_keep_date_tags_url_author_and_guid(imported):
    root, _ = imported
    post = load_posts(root / "posts", HONG_KONG)[-1]
    assert post.slug == "2019-10-14-bay-area-lenders-must-learn-to-price-ideas"
    assert post.title == "Bay Area lenders must learn to price ideas – Lam Wing-sze remarks"
    assert post.date == datetime(2019, 10, 14, 9, 30, tzinfo=HONG_KONG)
    assert post.tags == ("technology", "finance", "policy", "fintech")
    assert post.url == "https://gba.example.org/2019/10/14/bay-area-lenders-must-learn-to-price-ideas/"
    assert post.author == "GBA Desk"
    assert post.guid == "https://gba.example.org/?p=1000"


def test_briefs_keep_their_lead_text_link_date_and_tags(imported):
    root, _ = imported
    briefs = load_briefs(root / "briefs", HONG_KONG)
    assert [b.lead for b in briefs] == ["Night trains?", "Crane Count:", "Panyu Wired:", "Tolls Trimmed:"]
    assert [b.link.rsplit("/", 1)[1] for b in briefs] == ["#brief-1", "#brief-2", "#brief-3", "#brief-4"]
    first = briefs[0]
    assert first.text.startswith("A sleeper service between Guangzhou South and Chongqing")
    assert first.text.endswith("shortly after breakfast.")  # the "Read more." stub is not text
    assert first.date == datetime(2019, 6, 25, 18, 0, tzinfo=HONG_KONG)
    assert first.tags == ("technology", "briefs")
    assert first.guid == "https://gba.example.org/?p=1005"
    assert "url: https://gba.example.org/2019/06/25/gba-briefs-25-6-2019/" in (
        root / "briefs" / BRIEFS_FILE).read_text(encoding="utf-8")


def test_nbsp_curly_quotes_and_cdata_survive(imported):
    root, _ = imported
    speech = load_posts(root / "posts", HONG_KONG)[-1]
    assert "Still,&nbsp;these numbers flatter us." in speech.body
    rendered = lxml.html.fragment_fromstring(speech.body_html, create_parent="div").text_content()
    assert "Still,\xa0these numbers flatter us." in rendered
    assert "the so-called “specialist towns” of the Pearl River Delta" in rendered
    assert "the world’s lighting fittings" in rendered
    assert "CDATA" not in speech.body and "&lt;p&gt;" not in speech.body
    assert speech.body.lstrip().startswith("<p>Edited transcript of remarks by Lam Wing-sze")


def test_excerpts_lose_wordpress_stubs(imported):
    root, _ = imported
    excerpts = {p.slug: p.excerpt for p in load_posts(root / "posts", HONG_KONG)}
    sandbox = excerpts["2019-08-05-hong-kong-opens-a-sandbox-for-wealth-apps"]
    assert sandbox.endswith("a scheme known as Wealth Connect.")  # "[…]" after a full sentence: gone
    robots = excerpts["2019-08-12-dongguan-doubles-its-robot-subsidies"]
    assert robots.endswith("well beyond the factories of…")  # cut mid-sentence: an ellipsis says so
    assert not any("[…]" in e or "Read more" in e or "Continue reading" in e for e in excerpts.values())


def test_continue_reading_link_is_dropped_but_source_links_stay(imported):
    root, _ = imported
    bodies = {p.slug: p.body for p in load_posts(root / "posts", HONG_KONG)}
    assert "Continue reading" not in bodies["2019-08-12-dongguan-doubles-its-robot-subsidies"]
    assert "#more" not in bodies["2019-08-05-hong-kong-opens-a-sandbox-for-wealth-apps"]
    chips = bodies["2019-06-19-a-shenzhen-chipmaker-writes-its-own-tools"]
    assert '<a href="https://gba.example.org/2019/06/19/a-shenzhen-chipmaker-writes-its-own-tools/#source">' \
           "Read more in Nanfang Daily.</a>" in chips


def test_importing_again_changes_nothing(imported, run_cli):
    root, _ = imported
    before = snapshot(root)
    result = run_cli(root, "posts", "import", str(FEED))
    assert result.exit_code == 0
    assert result.output == "0 added, 0 updated, 9 unchanged\n"
    assert snapshot(root) == before


def test_an_edited_entry_updates_its_file_in_place(imported, run_cli, tmp_path):
    root, _ = imported
    before = snapshot(root)
    edited = tmp_path / "edited-feed.xml"
    edited.write_text(FEED.read_text(encoding="utf-8")
                      .replace("<title>Shenzhen puts 5G to work</title>",
                               "<title>Shenzhen puts 5G to work, widely</title>")
                      .replace("Retail:5G checkout", "Retail: 5G checkout"),
                      encoding="utf-8")
    result = run_cli(root, "posts", "import", str(edited))
    assert result.exit_code == 0
    assert result.output.splitlines() == ["updated posts/2019-07-08-shenzhen-puts-5g-to-work.md",
                                          "0 added, 1 updated, 8 unchanged"]
    after = snapshot(root)
    changed = [name for name in after if after[name] != before[name]]
    assert changed == ["posts/2019-07-08-shenzhen-puts-5g-to-work.md"]
    post = next(p for p in load_posts(root / "posts", HONG_KONG) if p.guid.endswith("?p=1003"))
    assert post.title == "Shenzhen puts 5G to work, widely"
    assert "Retail: 5G checkout" in post.body


def test_posts_list_shows_the_briefs_of_week_26(imported, run_cli):
    root, _ = imported
    result = run_cli(root, "posts", "list", "--week", "2019-W26")
    assert result.exit_code == 0
    assert result.output.count("brief ") == 4 and "Tolls Trimmed:" in result.output
    assert result.output.splitlines()[-1] == "0 posts, 4 briefs"


def test_since_skips_older_entries_and_tag_is_added(workspace_dir, run_cli):
    result = run_cli(workspace_dir, "posts", "import", str(FEED), "--since", "2019-07-01",
                     "--tag", "Website")
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "5 added, 0 updated, 0 unchanged, 4 dated before 2019-07-01"
    posts = load_posts(workspace_dir / "posts", HONG_KONG)
    assert next(p.date.date().isoformat() for p in posts) == "2019-07-01"
    assert all(p.tags[-1] == "website" for p in posts)
    assert not any((workspace_dir / "briefs").iterdir())


def test_since_after_every_entry_is_nothing_to_do(workspace_dir, run_cli):
    result = run_cli(workspace_dir, "posts", "import", str(FEED), "--since", "2020-01-01")
    assert result.exit_code == 2
    assert result.error_lines == [f"error: {FEED}: no entries since 2020-01-01 (9 older)"]


def test_a_post_that_became_a_digest_is_reported_not_duplicated(imported, run_cli, tmp_path):
    root, _ = imported
    retitled = tmp_path / "retitled-feed.xml"
    retitled.write_text(FEED.read_text(encoding="utf-8")
                        .replace("<title>GBA Briefs: 25/6/2019</title>", "<title>Four stories</title>")
                        .replace("<category><![CDATA[briefs]]></category>", ""), encoding="utf-8")
    result = run_cli(root, "posts", "import", str(retitled))
    assert result.exit_code == 3
    assert result.error_lines == [
        f'skipped entry 6 "Four stories": was imported as briefs/{BRIEFS_FILE} but is now a post; '
        "delete that file to import it again", "error: 1 entry skipped (the reasons are above)"]
    assert len(list((root / "posts").iterdir())) == 8


def test_an_added_tag_does_not_make_every_entry_a_digest(workspace_dir, run_cli):
    result = run_cli(workspace_dir, "posts", "import", str(FEED), "--tag", "briefs")
    assert result.exit_code == 0
    posts = load_posts(workspace_dir / "posts", HONG_KONG)
    assert len(posts) == 8 and all("briefs" in p.tags for p in posts)


def test_a_broken_title_pattern_is_reported_with_its_setting(workspace_dir, run_cli):
    config = workspace_dir / "gbaletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[import]\nbriefs_title_pattern = "(GBA"\n',
                      encoding="utf-8")
    result = run_cli(workspace_dir, "posts", "import", str(FEED))
    assert result.exit_code == 1
    assert result.error_lines == ["error: gbaletter.toml [import]: 'briefs_title_pattern' is not a valid "
                                  "regular expression: missing ), unterminated subpattern at position 0"]
