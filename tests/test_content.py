"""Posts and briefs: parsing, excerpt fallback, timezones, and errors that name file and line."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from support.workspace import write
from gbaletter.content import load_briefs, load_posts
from gbaletter.content.markdown import sanitize
from gbaletter.errors import GbaletterError

HK = ZoneInfo("Asia/Hong_Kong")

POST = """---
title: Shenzhen ramps up 5G
date: 2019-07-08 07:45:00+08:00
tags: [Technology, 5g, technology]
url: https://gba.example.org/5g/
author: GBA Desk
---

Shenzhen plans **15,000** base stations by year end.

A second paragraph.
"""


def test_post_fields_and_excerpt_fallback(tmp_path):
    write(tmp_path / "2019-07-08-5g.md", POST)
    [post] = load_posts(tmp_path, HK)
    assert post.slug == "2019-07-08-5g"
    assert post.title == "Shenzhen ramps up 5G"
    assert post.date == datetime(2019, 7, 8, 7, 45, tzinfo=HK)
    assert post.tags == ("technology", "5g")
    assert post.excerpt == "Shenzhen plans 15,000 base stations by year end."
    assert "<strong>15,000</strong>" in post.body_html


def test_naive_dates_are_in_the_workspace_timezone(tmp_path):
    write(tmp_path / "a.md", "---\ntitle: A\ndate: 2019-06-24\n---\nBody\n")
    [post] = load_posts(tmp_path, HK)
    assert post.date.utcoffset().total_seconds() == 8 * 3600


def test_explicit_excerpt_wins(tmp_path):
    write(tmp_path / "a.md", "---\ntitle: A\ndate: 2019-06-24\nsummary: Short.\n---\nLong body\n")
    assert load_posts(tmp_path, HK)[0].excerpt == "Short."


@pytest.mark.parametrize("text, message", [
    ("---\ntitle: A\ndate: [2019\n---\n", "a.md:3: invalid YAML"),
    ("---\ntitle: A\n  bad: indent\ndate: 2019-01-01\n---\n", "a.md:3: invalid YAML"),
    ("---\ndate: 2019-06-24\n---\nBody\n", "a.md: front matter has no 'title'"),
    ("---\ntitle: A\n---\nBody\n", "a.md: front matter has no 'date'"),
    ("---\ntitle: A\ndate: next week\n---\n", "a.md: 'date': 'next week' is not a date"),
    # impossible dates (issue 23 #6): YAML reads them as dates, so they fail at their line
    ("---\ntitle: A\ndate: 2026-02-30\n---\n", "a.md:3: invalid YAML: '2026-02-30' is not a date"),
    ("---\ntitle: A\ndate: 2026-13-01 10:00:00\n---\n", "a.md:3: invalid YAML: '2026-13-01 10:00:00' is not a date"),
    ("---\ntitle: A\ndate: 2026-12-01 25:00:00\n---\n", "a.md:3: invalid YAML: '2026-12-01 25:00:00' is not a date"),
    ("title: A\n", "a.md:1: no front matter"),
    ("---\ntitle: A\ndate: 2019-06-24\n", "a.md:1: front matter is not closed"),
    ("---\ntitle: A\ndate: 2019-06-24\nimage: x.jpg\n---\n", "'image' needs an 'image_alt'"),
    ("---\ntitle: A\ndate: 2019-06-24\ntittle: B\n---\n", "unknown front matter key 'tittle'"),
])
def test_broken_post_is_named_with_file_and_line(tmp_path, text, message):
    write(tmp_path / "a.md", text)
    with pytest.raises(GbaletterError) as info:
        load_posts(tmp_path, HK)
    assert message in str(info.value)
    assert str(tmp_path / "a.md") in str(info.value)


def test_all_broken_posts_are_reported_together(tmp_path):
    write(tmp_path / "a.md", "---\ndate: 2019-06-24\n---\n")
    write(tmp_path / "b.md", "---\ntitle: B\n---\n")
    with pytest.raises(GbaletterError) as info:
        load_posts(tmp_path, HK)
    assert len(str(info.value).splitlines()) == 2


BRIEFS = """date: 2019-06-25 18:00:00+08:00
tags: [briefs, technology]
items:
  - lead: Vienna, anyone?
    text: A new route links *Guangzhou* and Vienna.
    link: https://gba.example.org/b#1
    tags: [transport]
  - id: fees
    lead: Fees cut
    text: Passport fees drop on July 1.
    link: https://gba.example.org/b#2
    date: 2019-06-26
"""


def test_briefs_inherit_file_date_and_tags(tmp_path):
    write(tmp_path / "2019-06-25-briefs.yaml", BRIEFS)
    first, second = load_briefs(tmp_path, HK)
    assert first.id == "2019-06-25-briefs-1"
    assert first.tags == ("briefs", "technology", "transport")
    assert first.text_html == "A new route links <em>Guangzhou</em> and Vienna."
    assert first.plain_text == "A new route links Guangzhou and Vienna."
    assert second.id == "fees" and second.date.day == 26


@pytest.mark.parametrize("text, message", [
    ("items:\n  - lead: X\n    text: Y\n    link: https://x\n", "item 1: no 'date'"),
    ("date: 2019-06-25\nitems:\n  - lead: X\n    link: https://x\n", "item 1: needs 'text'"),
    ("date: 2019-06-25\nitems: [oops\n", "b.yaml:2: invalid YAML"),
    ("- just a list\n", "must be a mapping with an 'items' list"),
    ("date: 2026-02-30\nitems: []\n", "b.yaml:1: invalid YAML: '2026-02-30' is not a date"),
])
def test_broken_briefs_are_named(tmp_path, text, message):
    write(tmp_path / "b.yaml", text)
    with pytest.raises(GbaletterError) as info:
        load_briefs(tmp_path, HK)
    assert message in str(info.value)


def test_sanitize_removes_scripts_handlers_and_styles():
    dirty = ('<p onclick="x()" style="color:red">Hi<script>alert(1)</script>'
             '<iframe src="https://evil"></iframe><a href="javascript:alert(1)">x</a></p>')
    clean = sanitize(dirty)
    for bad in ("onclick", "style", "script", "iframe", "javascript"):
        assert bad not in clean
    assert clean.startswith("<p>Hi")
