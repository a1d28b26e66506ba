"""`gbaletter issue check` without a browser: each problem of a crafted bad issue is found where
it was made, and the sample issue has none."""

import shutil

import pytest

from support.workspace import MINIMAL_CONFIG, write
from gbaletter.config import load_workspace
from gbaletter.content.select import window
from gbaletter.errors import GbaletterError
from gbaletter.issue.assemble import new_issue
from gbaletter.issue.check import ERROR, WARNING, check_issue
from gbaletter.issue.render import build_issue
from support.issue_content import post, week_26
from support.issue_problems import ISSUE, LONG_PREHEADER, LONG_SUBJECT, bad_week_26, set_manifest


def _new_issue(root):
    ws = load_workspace(root)
    new_issue(ws, window(ws.tz, week=ISSUE))
    return ws


@pytest.fixture(scope="module")
def bad_root(tmp_path_factory):
    """The bad issue's workspace, built once for all the tests below."""
    root = tmp_path_factory.mktemp("bad")
    write(root / "gbaletter.toml", MINIMAL_CONFIG)
    bad_week_26(root)
    ws = _new_issue(root)
    set_manifest(root, "subject", LONG_SUBJECT)
    set_manifest(root, "preheader", LONG_PREHEADER)
    build_issue(ws, ISSUE)
    return root


@pytest.fixture(scope="module")
def bad(bad_root):
    return check_issue(load_workspace(bad_root), ISSUE)


def found(report, code, where, severity=None, says=""):
    """The one finding with `code` whose place contains `where` (and message contains `says`)."""
    matches = [f for f in report.findings if f.code == code and where in f.where and says in f.message]
    assert len(matches) == 1, f"{code} at {where}: {matches} in\n" + "\n".join(report.lines())
    if severity:
        assert matches[0].severity == severity
    return matches[0]


def test_http_link_in_a_post(bad):
    found(bad, "link-http", "posts/maglev.md:5", WARNING)


def test_relative_link_in_a_post(bad):
    found(bad, "link-broken", "posts/star.md:5", ERROR, says="relative")


def test_link_with_another_scheme_in_a_brief(bad):
    found(bad, "link-broken", "briefs/2019-06-26-bad-briefs.yaml:6", ERROR, says="'ftp:'")


def test_malformed_link_in_a_brief(bad):
    found(bad, "link-broken", "briefs/2019-06-26-bad-briefs.yaml:9", ERROR, says="malformed")


def test_fragment_link_in_a_brief(bad):
    found(bad, "link-broken", "briefs/2019-06-26-bad-briefs.yaml:11", ERROR, says="goes nowhere")


def test_local_link_in_a_brief(bad):
    found(bad, "link-broken", "briefs/2019-06-26-bad-briefs.yaml:14", ERROR, says="local")


def test_image_without_alt_text(bad):
    found(bad, "image-alt", "briefs/2019-06-26-bad-briefs.yaml:17", WARNING)


def test_image_without_pixel_width(bad):
    found(bad, "image-width", "briefs/2019-06-26-bad-briefs.yaml:17", WARNING)


def test_long_subject(bad):
    finding = found(bad, "subject-long", "issues/2019-W26/issue.yaml:6", WARNING)
    assert f"{len(LONG_SUBJECT)} characters" in finding.message


def test_long_preheader(bad):
    found(bad, "preheader-long", "issues/2019-W26/issue.yaml:7", WARNING)


def test_unsubscribe_link_without_placeholder(bad):
    found(bad, "unsubscribe-placeholder", 'issues/2019-W26/build/email.html:', ERROR,
          says="https://news.example.org/unsubscribe")


def test_text_part_without_unsubscribe(bad):
    found(bad, "unsubscribe-missing", "issues/2019-W26/build/email.txt", ERROR)


def test_text_part_much_shorter_than_html(bad):
    found(bad, "text-short", "issues/2019-W26/build/email.txt", WARNING)


def test_class_rule_left_in_style_block(bad):
    finding = found(bad, "style-not-inlined", '<td class="masthead-title">', WARNING)
    assert "text-transform, display" in finding.message


def test_outlook_css_in_style_block(bad):
    found(bad, "outlook-css", "<style> .masthead-title", WARNING, says="display: flex")


def test_outlook_css_inline(bad):
    found(bad, "outlook-css", '<div class="stamp">', WARNING, says="position: absolute")
    found(bad, "outlook-css", '<div class="centred-note">', WARNING, says="margin: 0 auto")


def test_masthead_without_h1_breaks_the_heading_outline(bad):
    found(bad, "heading-order", "<h2>", WARNING, says="the first heading is an <h2>, not <h1>")


def test_every_finding_is_expected(bad):
    """Nothing else is reported: MJML's own output (ghost tables, resets, @media) is not flagged."""
    expected = {"link-http", "link-broken", "image-alt", "image-width", "subject-long",
                "preheader-long", "unsubscribe-placeholder", "unsubscribe-missing", "text-short",
                "style-not-inlined", "outlook-css", "heading-order"}
    assert {f.code for f in bad.findings} == expected
    assert len(bad.findings) == 18, "\n".join(bad.lines())
    assert [f.severity for f in bad.findings] == sorted(f.severity for f in bad.findings)  # errors first


# --- problems that need an issue of their own ---------------------------------------------------

@pytest.fixture
def plain(workspace_dir):
    """A good issue (week_26) to spoil one way."""
    week_26(workspace_dir)
    ws = _new_issue(workspace_dir)
    build_issue(ws, ISSUE)
    return ws


def test_plain_issue_has_no_findings(plain):
    assert check_issue(plain, ISSUE).findings == ()


def test_empty_preheader(plain):
    set_manifest(plain.root, "preheader", "")
    build_issue(plain, ISSUE)
    found(check_issue(plain, ISSUE), "preheader-empty", "issues/2019-W26/issue.yaml:7", WARNING)


def test_subject_past_the_limit_is_an_error(plain):
    set_manifest(plain.root, "subject", "x" * 151)
    build_issue(plain, ISSUE)
    found(check_issue(plain, ISSUE), "subject-long", "issue.yaml:6", ERROR)


def test_empty_subject_is_refused(plain, run_cli):
    set_manifest(plain.root, "subject", "")
    result = run_cli(plain.root, "issue", "check", ISSUE, "--no-browser")
    assert result.exit_code == 1
    assert result.error_lines == ["error: issues/2019-W26/issue.yaml: 'subject' is empty"]


def test_html_missing_unsubscribe_link(plain):
    write(plain.root / "templates/email/_footer.mjml.j2", "<mj-section><mj-column><mj-text>Bye"
          "</mj-text></mj-column></mj-section>\n")
    build_issue(plain, ISSUE)
    found(check_issue(plain, ISSUE), "unsubscribe-missing", "issues/2019-W26/build/email.html", ERROR)


def test_stale_build(plain):
    post = plain.root / "posts/star.md"
    post.write_text(post.read_text().replace("Guangdong STAR market", "Shenzhen STAR market"))
    found(check_issue(plain, ISSUE), "build-stale", "issues/2019-W26/build", ERROR)


def test_unbuilt_issue(plain):
    shutil.rmtree(plain.root / "issues/2019-W26/build")
    with pytest.raises(GbaletterError, match="run `gbaletter issue build 2019-W26`"):
        check_issue(plain, ISSUE)


def test_html_size_past_gmail_clipping(workspace_dir, run_cli):
    for n in range(8):
        post(workspace_dir, f"long{n}", f"Long {n}", f"2019-06-{24 + n % 7}", "technology",
             extra=f"excerpt: {'word ' * 3000}\n")
    ws = _new_issue(workspace_dir)
    build_issue(ws, ISSUE, force=True)
    found(check_issue(ws, ISSUE), "html-size", "issues/2019-W26/build/email.html", ERROR)
    result = run_cli(workspace_dir, "issue", "check", ISSUE, "--no-browser")
    assert result.exit_code == 1 and "html-size" in result.output


# --- the command line ------------------------------------------------------------------------

def test_check_command_prints_aligned_findings_and_fails_on_errors(bad_root, run_cli):
    result = run_cli(bad_root, "issue", "check", ISSUE, "--no-browser")
    assert result.exit_code == 1
    links, findings_part = result.output.split("\n\n", 1)  # the link table comes first
    assert links.startswith("11 links (tracked)")
    lines = findings_part.splitlines()
    assert lines[-1] == "issue 2019-W26: 7 errors, 11 warnings"
    findings = lines[:-1]
    assert len(findings) == 18
    assert len({line.index(line.split()[2]) for line in findings}) == 1  # the places line up
    assert findings[0].startswith("error    unsubscribe-placeholder  issues/2019-W26/build/email.html:")


def test_build_prints_static_findings_but_succeeds(bad_root, run_cli):
    result = run_cli(bad_root, "issue", "build", ISSUE)
    assert result.exit_code == 0
    assert "built issues/2019-W26/build/email.html" in result.output
    assert "unsubscribe-placeholder" in result.stderr and "7 errors, 11 warnings" in result.stderr


def test_sample_workspace_has_no_static_findings(sample_workspace, run_cli):
    built = run_cli(sample_workspace, "issue", "build", ISSUE)
    assert built.exit_code == 0 and built.stderr == ""
    result = run_cli(sample_workspace, "issue", "check", ISSUE, "--no-browser")
    assert result.exit_code == 0, result.output
    links, findings = result.output.split("\n\n", 1)
    assert findings == "issue 2019-W26: no problems found\n"
    lines = links.splitlines()
    assert lines[0].startswith("14 links (tracked)") and len(lines) == 2 + 14
    assert lines[2].split()[1:3] == ["featured", "2019-06-30-specialist-towns-credit"]
