"""`issue check`'s accessibility rules. In Chromium: contrast in the light and the dark scheme, text
size; a template that fails them is named by element and colours. From the HTML: lang, layout
tables, heading order, ambiguous link text. And the WCAG arithmetic they rest on."""

import pytest
from lxml import html as lxml_html

from gbaletter.config import load_workspace
from gbaletter.content.select import window
from gbaletter.issue.accessibility import contrast, is_large, structure
from gbaletter.issue.assemble import new_issue
from gbaletter.issue.browser import chromium, email_page
from gbaletter.issue.built import read_build
from gbaletter.issue.check import ERROR, WARNING, check_issue
from gbaletter.issue.render import build_issue
from support.issue_content import week_26
from support.workspace import REPO, write

ISSUE = "2019-W26"
THEME = REPO / "src/gbaletter/templates/email/_theme.j2"
MASTHEAD = REPO / "src/gbaletter/templates/email/_masthead.mjml.j2"
FOOTER = REPO / "src/gbaletter/templates/email/_footer.mjml.j2"


def checked(root, **templates: str):
    """The browser findings of week 26 built with these template overrides (name -> text)."""
    week_26(root)
    for name, text in templates.items():
        write(root / "templates/email" / name, text)
    ws = load_workspace(root)
    new_issue(ws, window(ws.tz, week=ISSUE))
    build_issue(ws, ISSUE)
    return check_issue(ws, ISSUE, browser=True)


@pytest.mark.usefixtures("chromium")
def test_grey_fine_print_fails_contrast_in_the_light_scheme_and_is_named(workspace_dir):
    theme = THEME.read_text().replace('muted = "#56636d"', 'muted = "#9aa5ae"')
    report = checked(workspace_dir, **{"_theme.j2": theme})
    findings = [f for f in report.findings if f.code == "contrast"]
    assert findings and {f.severity for f in findings} == {ERROR}
    on_page = [f for f in findings if "on #eef1f4" in f.message]  # above and below the card
    assert len(on_page) == 1, "\n".join(report.lines())
    assert on_page[0].where == ('issues/2019-W26/build/email.html '
                                '<a href="https://example.org/preview/view"> \'View in browser\'')
    assert on_page[0].message == ("in the light scheme, text #9aa5ae on #eef1f4 has a contrast of "
                                  "2.2:1, under 4.5:1 (and 6 more elements)")
    assert not any("dark scheme" in f.message for f in findings)  # the dark colours are untouched


@pytest.mark.usefixtures("chromium")
def test_dark_rule_that_cannot_reach_an_inline_white_background_is_found(workspace_dir):
    """The bug this rule was made for: the text turns light, an inner table stays white."""
    masthead = MASTHEAD.read_text().replace('css-class="bg-paper"', "")
    report = checked(workspace_dir, **{"_masthead.mjml.j2": masthead})
    [finding] = [f for f in report.findings if f.code == "contrast" and "<h1>" in f.where]
    assert finding.where == "issues/2019-W26/build/email.html <h1> 'Test Weekly'"
    assert finding.message.startswith("in the dark scheme, text #9cc3db on #ffffff has a contrast "
                                      "of 1.9:1, under 3:1")  # 36 px: large text
    assert all("dark scheme" in f.message for f in report.findings if f.code == "contrast")


@pytest.mark.usefixtures("chromium")
def test_small_footer_text_is_found(workspace_dir):
    footer = FOOTER.read_text().replace('font-size="14px"', 'font-size="12px"')
    report = checked(workspace_dir, **{"_footer.mjml.j2": footer})
    [finding] = [f for f in report.findings if f.code == "text-small"]
    assert finding.severity == WARNING
    assert finding.message == "text of 12 px, under 14 px (6 elements; the smallest shown)"
    assert finding.where.startswith("issues/2019-W26/build/email.html <div> 'You receive Test Weekly")


# --- from the HTML ---------------------------------------------------------------------------

def codes(page: str) -> list[tuple[str, str]]:
    doc = lxml_html.document_fromstring(page)
    return [(f.code, f.message) for f in structure(doc, lambda e: e.tag, "email.html")]


def test_a_clean_page_has_no_structural_findings():
    assert codes('<html lang="zh-Hant"><body><table role="presentation"><tr><td><h1>周報</h1>'
                 '<h2>焦點</h2><h3><a href="https://a.example/1">深圳</a></h3>'
                 '<a href="https://a.example/1">深圳</a></td></tr></table></body></html>') == []


def test_structural_findings_each_say_what_is_wrong():
    found = codes('<html><body><table><tr><td><h2>Top</h2><h4>Story</h4>'
                  '<a href="https://a.example/1">Read more</a> <a href="https://a.example/2">Read more</a>'
                  '<a href="https://a.example/3" aria-label="Read more: Ports">Read more</a>'
                  '</td></tr></table><table><tr><th>Port</th></tr></table></body></html>')
    assert [code for code, _ in found] == ["lang-missing", "table-role", "heading-order",
                                           "heading-order", "link-text"]
    assert found[2][1].startswith("the first heading is an <h2>, not <h1>")
    assert found[3][1] == "an <h4> after an <h2> skips a level"
    assert found[4][1].startswith("2 links say 'read more' and go to different places")


def test_wcag_arithmetic():
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast((255, 255, 255), (255, 255, 255)) == 1.0
    assert contrast((0x77, 0x77, 0x77), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)  # the classic near miss
    assert is_large(24, 400) and is_large(18.66, 700)
    assert not is_large(18.66, 400) and not is_large(18, 700)


LIGHT_BACKGROUNDS_JS = """() => [...document.querySelectorAll('*')].filter((e) => e.getClientRects().length)
  .map((e) => [e.tagName.toLowerCase() + '.' + e.className, getComputedStyle(e).backgroundColor])
  .filter(([, colour]) => !/rgba\\(.*, 0\\)$/.test(colour))
  .filter(([, colour]) => colour.match(/\\d+/g).slice(0, 3).some((value) => Number(value) > 100))"""


@pytest.mark.usefixtures("chromium")
def test_the_dark_scheme_leaves_no_light_background_anywhere(sample_workspace, run_cli):
    """Not only under text: no box of the sample issue (MJML's inner tables included) stays light."""
    assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
    html = read_build(load_workspace(sample_workspace), ISSUE).sample_html()
    with chromium() as browser:
        with email_page(browser, html, 375, "dark") as page:
            assert page.evaluate(LIGHT_BACKGROUNDS_JS) == []
        with email_page(browser, html, 375, "light") as page:
            assert page.evaluate(LIGHT_BACKGROUNDS_JS)  # the same query finds the light ones by day
