"""From the website's feed to an email: the imported briefs digest shows up in the week's issue."""

from __future__ import annotations

from lxml import html as lxml_html

from support.workspace import FEED

DIGEST = "https://gba.example.org/2019/06/25/gba-briefs-25-6-2019/"


def test_an_issue_built_for_week_26_from_the_imported_feed_shows_the_briefs(workspace_dir, run_cli):
    for command in (("posts", "import", str(FEED)),
                    ("issue", "new", "--week", "2019-W26"),
                    ("issue", "build", "2019-W26")):
        result = run_cli(workspace_dir, *command)
        assert result.exit_code == 0, result.stderr
    page = lxml_html.parse(str(workspace_dir / "issues/2019-W26/build/email.html")).getroot()
    assert [s.text for s in page.xpath("//strong")] == [
        "Night trains?", "Crane Count:", "Panyu Wired:", "Tolls Trimmed:"]
    for number in range(1, 5):
        assert page.xpath(f'//a[@href="{DIGEST}#brief-{number}"]')
    text = " ".join(page.text_content().split())
    assert "Night trains? A sleeper service between Guangzhou South and Chongqing" in text
    assert "trucks get a night-time discount." in text
