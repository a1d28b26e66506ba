"""`gbaletter issue check` with Chromium: the phone layout (375 px) of the sample issue fits, and
what makes one overflow (a preformatted line, a wide image) is named."""

import pytest

from gbaletter.config import load_workspace
from gbaletter.content.select import window
from gbaletter.issue.assemble import new_issue
from gbaletter.issue.check import ERROR, check_issue
from gbaletter.issue.render import build_issue
from support.issue_content import week_26

ISSUE = "2019-W26"
WIDE_LINE = "Port     TEU 2018   TEU 2019   Change   Berths   Cranes   Notes on the year"
WIDE_IMAGE = '<img src="https://gba.example.org/chart.png" alt="Container traffic" width="500">'


@pytest.mark.usefixtures("chromium")
def test_sample_workspace_has_no_findings_at_all(sample_workspace, run_cli):
    assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
    result = run_cli(sample_workspace, "issue", "check", ISSUE)
    assert result.exit_code == 0, result.output
    links, findings = result.output.split("\n\n", 1)  # the link table comes first
    assert links.startswith("14 links (tracked)")
    assert findings == "issue 2019-W26: no problems found\n"


@pytest.mark.usefixtures("chromium")
@pytest.mark.parametrize("intro, cause", [
    (f"The ports:\n\n      {WIDE_LINE}", "<code> 'Port "),
    (f"The ports:\n\n  {WIDE_IMAGE}", '<img src="https://gba.example.org/chart.png">'),
], ids=["preformatted-line", "remote-image-500px"])
def test_overflowing_phone_layout_names_its_cause(workspace_dir, intro, cause):
    week_26(workspace_dir)
    ws = load_workspace(workspace_dir)
    new_issue(ws, window(ws.tz, week=ISSUE))
    manifest = workspace_dir / "issues/2019-W26/issue.yaml"
    manifest.write_text(manifest.read_text().replace("intro: |\n", f"intro: |\n  {intro}\n"))
    build_issue(ws, ISSUE)
    assert check_issue(ws, ISSUE).findings == ()  # the static checks cannot see it
    [finding] = check_issue(ws, ISSUE, browser=True).findings
    assert (finding.severity, finding.code) == (ERROR, "phone-overflow")
    assert finding.message.startswith("at 375 px the email is ")
    assert finding.where.startswith(f"issues/2019-W26/build/email.html {cause}")
