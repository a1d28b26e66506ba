"""An issue with one of every problem `issue check` looks for, each at a known place.

Built on `issue_content.week_26`: two posts get bad addresses, a briefs file gets bad links and an
image, the manifest a long subject and preheader, and template overrides bring in styles that
clients drop, CSS that Outlook ignores, an unsubscribe link without its placeholder and a text part
that says almost nothing.
"""

from pathlib import Path

from support.workspace import write
from support.issue_content import week_26

ISSUE = "2019-W26"
LONG_SUBJECT = "Test Weekly #1: a subject that goes on and on about the week, and then some more"
LONG_PREHEADER = "A preheader that tells the whole story of the week before anyone opens it. " * 2

BAD_BRIEFS = """\
date: 2019-06-26 18:00:00+08:00
tags: [technology]
items:
  - lead: Scheme
    text: A report for the archive.
    link: ftp://files.example.org/report.pdf
  - lead: Malformed
    text: A typo in the address.
    link: "https://[gba.example.org/oops"
  - lead: Fragment
    text: See [the chart](#) for the numbers.
    link: https://gba.example.org/briefs/3
  - lead: Local
    text: Found while previewing [on this computer](http://localhost:8000/draft).
    link: https://gba.example.org/briefs/4
  - lead: Chart
    text: "Trade grew again: ![](https://gba.example.org/trade-chart.png)"
    link: https://gba.example.org/briefs/5
"""

# A masthead whose title relies on a class rule that stays in <style>, with CSS Outlook ignores.
BAD_MASTHEAD = """\
<mj-raw><style>.masthead-title { text-transform: uppercase; display: flex; }</style></mj-raw>
<mj-section background-color="#0b4f6c" padding="18px 0">
  <mj-column>
    <mj-text css-class="masthead-title" color="#ffffff">{{ newsletter.name }}</mj-text>
    <mj-raw><div class="stamp" style="position: absolute; top: 0;">New</div></mj-raw>
    <mj-raw><div class="centred-note" style="margin: 0 auto; width: 300px;">Issue {{ issue.number }}</div></mj-raw>
  </mj-column>
</mj-section>
"""

BAD_FOOTER = """\
<mj-section><mj-column>
  <mj-text><a href="https://news.example.org/unsubscribe">Unsubscribe</a></mj-text>
</mj-column></mj-section>
"""

BAD_TEXT = "{{ newsletter.name }}: read this issue in your browser: {{ view_url }}\n"


def bad_week_26(root: Path) -> None:
    """Content and templates for the bad issue; the manifest comes from `issue new` + `with_manifest`."""
    week_26(root)
    (root / "posts/maglev.md").write_text((root / "posts/maglev.md").read_text().replace(
        "url: https://", "url: http://"))
    (root / "posts/star.md").write_text((root / "posts/star.md").read_text().replace(
        "url: https://", "url: "))
    write(root / "briefs/2019-06-26-bad-briefs.yaml", BAD_BRIEFS)
    write(root / "templates/email/_masthead.mjml.j2", BAD_MASTHEAD)
    write(root / "templates/email/_footer.mjml.j2", BAD_FOOTER)
    write(root / "templates/email/issue.txt.j2", BAD_TEXT)


def set_manifest(root: Path, key: str, value: str) -> None:
    """Replace one `key: "..."` line of the issue's manifest."""
    path = root / "issues" / ISSUE / "issue.yaml"
    lines = [f'{key}: "{value}"' if line.startswith(f"{key}:") else line
             for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
