"""The editorial side of the email: kickers from `[kickers]`, section names from `[sections]`, a
brief's lead-in ending in one separator, the tagline, and Chinese headlines drawn in a CJK face."""

import pytest
from lxml import html as lxml_html
from PIL import Image

from gbaletter.config import load_workspace, parse_config
from gbaletter.issue.browser import chromium, email_page
from gbaletter.issue.built import read_build
from gbaletter.issue.editorial import kicker, lead_in
from gbaletter.issue.render import PostView, StoryImage, template_environment
from support.issue_content import post, week_26
from support.workspace import MINIMAL_CONFIG, write

DESK = MINIMAL_CONFIG.replace('name = "Test Weekly"\n', 'name = "Test Weekly"\ntagline = "The week, briefly"\n') + """
[sections]
featured = "Big stories"
briefs = "Short takes"

[kickers]
5g = "Telecoms"
Technology = "Tech"
"""


def test_kicker_is_the_first_entry_of_the_file_that_the_story_carries():
    kickers = parse_config(DESK).kickers
    assert kickers == {"5g": "Telecoms", "technology": "Tech"}  # tags compared in lower case
    assert kicker(("technology", "5g"), kickers) == "Telecoms"  # the file's order, not the tags'
    assert kicker(("Technology",), kickers) == "Tech"
    assert kicker(("finance",), kickers) == ""


@pytest.mark.parametrize("lead, shown", [
    ("Tianhe goes first", "Tianhe goes first:"),
    ("Smart ports:", "Smart ports:"),
    ("Smart ports :", "Smart ports:"),
    ("Smart ports -", "Smart ports:"),
    ("Smart ports —", "Smart ports:"),
    ("Smart ports:—", "Smart ports:"),
    ("智慧港口：", "智慧港口:"),
    ("Huawei reprieve?", "Huawei reprieve?"),
    ("Huawei reprieve?:", "Huawei reprieve?"),
    ("華為喘息？", "華為喘息？"),
    ("Ten-year plan", "Ten-year plan:"),  # a hyphen inside is not a separator
])
def test_lead_in_ends_with_one_separator(lead, shown):
    assert lead_in(lead) == shown


def test_lead_in_takes_the_separator_of_the_language():
    assert lead_in("智慧港口 -", "：") == "智慧港口："


@pytest.fixture
def desk_issue(workspace_dir, run_cli):
    write(workspace_dir / "gbaletter.toml", DESK)
    week_26(workspace_dir)
    post(workspace_dir, "hengqin", "橫琴粵澳深度合作區掛牌運作", "2019-06-30 12:00:00+08:00",
         "technology, hengqin-guangdong-macao-in-depth-cooperation-zone")
    assert run_cli(workspace_dir, "issue", "new", "--week", "2019-W26").exit_code == 0
    result = run_cli(workspace_dir, "issue", "build", "2019-W26")
    assert result.exit_code == 0, result.stderr
    return workspace_dir


def test_kickers_sections_and_tagline_in_both_parts(desk_issue):
    folder = desk_issue / "issues/2019-W26/build"
    doc = lxml_html.fromstring((folder / "email.html").read_text())
    text = (folder / "email.txt").read_text()
    h2 = [" ".join(h.text_content().split()) for h in doc.iter("h2")]
    assert h2 == ["In this issue", "Big stories", "Also this week", "Short takes"]
    shown = " ".join(doc.text_content().split())
    assert "The week, briefly" in shown and "The week, briefly" in text
    assert "TELECOMS" in text and "Telecoms" in shown and "Tech" in shown
    assert "橫琴粵澳深度合作區掛牌運作" in shown
    # the raw tag list is gone from both parts
    assert "hengqin-guangdong-macao" not in shown and "hengqin-guangdong-macao" not in text
    assert "technology, 5g" not in shown


@pytest.mark.usefixtures("chromium")
def test_a_chinese_headline_is_drawn_in_a_cjk_face(desk_issue, run_cli):
    """No tofu: a headline in Chinese is drawn (Noto Sans CJK here), so its box has ink
    in it, and the check finds nothing in either scheme."""
    result = run_cli(desk_issue, "issue", "check", "2019-W26")
    assert result.exit_code == 0 and result.output.endswith("issue 2019-W26: no problems found\n"), \
        result.output + result.stderr
    html = read_build(load_workspace(desk_issue), "2019-W26").sample_html()
    with chromium() as browser, email_page(browser, html, 375) as page:
        headline = page.locator("h3", has_text="橫琴粵澳深度合作區掛牌運作")
        fonts = page.evaluate("(h) => getComputedStyle(h).fontFamily", headline.element_handle())
        picture = desk_issue / "headline.png"
        headline.screenshot(path=str(picture))
    assert "Noto Sans CJK HK" in fonts
    with Image.open(picture) as shot:
        dark_pixels = sum(shot.convert("L").histogram()[:128])
    assert dark_pixels > 300  # ink, not empty boxes or blanks


def test_story_images_are_scaled_to_their_place_with_a_2x_source(tmp_path):
    """The shape the image pipeline fills in: the lead full width, a thumbnail at most 176 px wide
    with its height scaled, both with the 2x file in srcset, centred, linked to the story."""
    macros = template_environment(tmp_path).get_template("email/_macros.mjml.j2").module
    image = StoryImage("https://cdn.example.org/a.jpg", "https://cdn.example.org/a@2x.jpg", 600, 338,
                       "Cranes at Shekou")
    story = PostView("ports", "Ports", "https://gba.example.org/ports/", "", "28 June 2019", (), image)
    lead = lxml_html.fromstring(str(macros.story_image(story, 600, "0"))).attrib
    thumbnail = lxml_html.fromstring(str(macros.story_image(story, 176, "0"))).attrib
    assert (lead["width"], lead["height"], thumbnail["width"], thumbnail["height"]) == \
        ("600px", "338px", "176px", "99px")
    assert lead["srcset"] == "https://cdn.example.org/a@2x.jpg 2x" and lead["align"] == "center"
    assert lead["href"] == "https://gba.example.org/ports/" and lead["alt"] == "Cranes at Shekou"
