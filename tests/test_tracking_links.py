"""The link table of a build and the rewrite of tracked links, without a server."""

from __future__ import annotations

import re

import pytest
from lxml import html as lxml_html

from gbaletter import placeholders
from gbaletter.config import load_workspace, parse_config
from gbaletter.errors import GbaletterError
from gbaletter.issue.links import link_id, read_links, track
from gbaletter.issue.render import build_issue

ISSUE = "2019-W26"


@pytest.fixture
def built(sample_workspace):
    ws = load_workspace(sample_workspace)
    build_issue(ws, ISSUE)
    return ws, ws.issue_dir(ISSUE) / "build"


def test_every_story_link_has_a_stable_id_and_list_links_have_none(built):
    ws, folder = built
    links = read_links(folder)
    assert [link.section for link in links] == ["featured"] * 3 + ["more"] * 5 + ["briefs"] * 6
    assert all(link.id == link_id(link.section, link.story, link.url) for link in links)
    first = (folder / "links.json").read_text()
    build_issue(ws, ISSUE)  # a rebuild gives the same ids
    assert (folder / "links.json").read_text() == first
    assert link_id("featured", "a-post", "https://example.org/a") != link_id("more", "a-post", "https://example.org/a")
    urls = {link.url for link in links}
    html = (folder / "email.html").read_text()
    hrefs = set(lxml_html.fromstring(html).xpath("//a/@href"))
    untracked = hrefs - urls
    assert placeholders.marker("unsubscribe_url") in untracked and placeholders.marker("view_url") in untracked
    assert "https://gba.example.org/newsletter/archive" in untracked
    assert untracked == {placeholders.marker("unsubscribe_url"), placeholders.marker("view_url"),
                         placeholders.marker("preferences_url"),
                         "https://gba.example.org/newsletter/archive"}


def test_rewrite_points_tracked_links_at_the_server_once_per_issue(built):
    ws, folder = built
    links = read_links(folder)
    html, text = (folder / "email.html").read_text(), (folder / "email.txt").read_text()
    tracked_html, tracked_text = track(ws, links, html, text, opens=True)
    base = "https://gba.example.org/newsletter/c/{{click_token}}/"
    hrefs = lxml_html.fromstring(tracked_html).xpath("//a/@href")
    by_id = {link.id for link in links}
    assert {h.removeprefix(base) for h in hrefs if h.startswith(base)} == by_id
    assert not {link.url for link in links} & set(hrefs)  # no original URL left in the HTML
    assert placeholders.marker("unsubscribe_url") in hrefs
    assert all(link.url not in tracked_text for link in links)
    assert len(re.findall(re.escape(base), tracked_text)) >= len(links)
    pixel = lxml_html.fromstring(tracked_html).xpath("//img[@width='1']/@src")
    assert pixel == ["https://gba.example.org/newsletter/o/{{click_token}}"]


@pytest.mark.parametrize("table, problem", [
    ('clicks = "yes"', "'clicks' must be on or off"),
    ('mode = "everyone"', "'mode' must be aggregate or per-subscriber"),
    ("window_days = 0", "'window_days' must be at least 1"),
    ("opens = 1", "'opens' must be true or false"),
    ("scanner = true", "unknown key 'scanner'"),
])
def test_tracking_settings_are_checked(table, problem):
    with pytest.raises(GbaletterError, match=problem):
        parse_config(f"[tracking]\n{table}\n")


def test_reports_of_nothing_sent_say_so_in_one_line(sample_workspace, run_cli):
    assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
    result = run_cli(sample_workspace, "issue", "report", ISSUE)
    assert result.exit_code == 1
    assert result.error_lines == [f"error: issue {ISSUE} has not been sent yet: nothing to report"]
    result = run_cli(sample_workspace, "report")
    assert result.exit_code == 1 and result.error_lines == ["error: no issue has been sent yet: nothing to report"]
    assert not (sample_workspace / "issues" / "report.html").exists()
