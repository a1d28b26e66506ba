"""`gbaletter issue build`: the email's structure, its text part, placeholders and bad inputs."""

import json
import re

import pytest
from lxml import html as lxml_html

from support.workspace import REPO, write
from support.issue_content import post, week_26


@pytest.fixture
def built(workspace_dir, run_cli):
    week_26(workspace_dir)
    assert run_cli(workspace_dir, "issue", "new", "--week", "2019-W26").exit_code == 0
    result = run_cli(workspace_dir, "issue", "build", "2019-W26")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # no cssutils chatter, no warnings
    folder = workspace_dir / "issues/2019-W26/build"
    return folder, (folder / "email.html").read_text(), (folder / "email.txt").read_text()


def test_build_writes_html_text_mjml_and_info(built):
    folder, page, _ = built
    assert sorted(p.name for p in folder.iterdir()) == ["build.json", "check.json", "email.html", "email.mjml",
                                                         "email.txt", "images", "images.json", "links.json"]
    info = json.loads((folder / "build.json").read_text())
    assert info["issue"] == "2019-W26" and info["html_bytes"] == len(page.encode())
    assert "issues/2019-W26/issue.yaml" in info["files"]  # what the digest covers, for the send
    verdict = json.loads((folder / "check.json").read_text())  # the static check, for the send
    assert verdict["inputs"] == info["inputs"] and verdict["errors"] == []
    assert "<mj-body" in (folder / "email.mjml").read_text()


def test_email_structure(built):
    _, page, _ = built
    assert page.startswith("<!doctype html>")
    doc = lxml_html.fromstring(page)
    assert doc.get("lang") == "en"
    metas = {m.get("name"): m.get("content") for m in doc.iter("meta") if m.get("name")}
    assert metas["color-scheme"] == "light dark" and "supported-color-schemes" in metas
    assert doc.findtext(".//title") == "Test Weekly #1: Electric cars"
    # 600 px body
    assert doc.xpath('//div[contains(@style, "max-width:600px")]')
    # hidden preheader
    preheader = doc.xpath('//div[contains(@style, "display:none")]')
    assert preheader and "2 briefs" in preheader[0].text_content()
    # every layout table is presentational; every image has alt text and a pixel width
    tables = doc.xpath("//table")
    assert tables and all(t.get("role") == "presentation" for t in tables)
    images = doc.xpath("//img")
    assert images and all(i.get("alt") and re.fullmatch(r"\d+", i.get("width") or "")
                          and re.fullmatch(r"\d+", i.get("height") or "") for i in images)
    # a masthead, the sections as headings (h1 the name, h2 a section, h3 a story), the lead first
    headings = [(h.tag, " ".join(h.text_content().split())) for h in doc.xpath("//h1|//h2|//h3")]
    assert headings[:4] == [("h1", "Test Weekly"), ("h2", "In this issue"), ("h2", "Top stories"),
                            ("h3", "Electric cars")]
    assert ("h2", "Also this week") in headings and ("h2", "In brief") in headings
    # each headline is its story's link; "Continue reading" names its story for screen readers
    lead = doc.xpath("//h3")[0]
    assert lead.xpath("a/@href") == ["https://gba.example.org/evs/"]
    assert "font-size: 28px" in lead.get("style")
    continues = doc.xpath('//a[starts-with(normalize-space(), "Continue reading")]')
    assert [a.get("aria-label") for a in continues][:1] == ["Continue reading: Electric cars"]
    # "In this issue" lists the featured headlines, linked
    listed = doc.xpath("//ul/li/a")
    assert listed[0].text == "Electric cars" and len(listed) == len(continues)
    # briefs: a bold lead-in ending in one separator, a "More" link naming the brief
    leads = [s.text for s in doc.xpath("//strong")]
    assert leads == ["Vienna, anyone?", "Fees cut:"]
    more = doc.xpath('//a[@href="https://gba.example.org/briefs/#1"]')
    assert more and more[0].get("aria-label") == "More on Vienna, anyone?"


def test_footer_placeholders_and_styles(built):
    _, page, _ = built
    doc = lxml_html.fromstring(page)
    unsubscribe = doc.xpath('//a[normalize-space()="Unsubscribe"]')
    assert unsubscribe and unsubscribe[0].get("href") == "{{unsubscribe_url}}"
    assert doc.xpath('//a[normalize-space()="View in browser"]')[0].get("href") == "{{view_url}}"
    assert "1 Test Road, Hong Kong" in doc.text_content()
    assert "Hi {{name}}," in doc.text_content()
    styles = " ".join(s.text or "" for s in doc.iter("style"))
    # the phone rules survive inlining, !important intact
    assert re.search(r"@media only screen and \(min-width:480px\)\s*\{\s*\.mj-column-per-100\s*\{\s*"
                     r"width:\s*100%\s*!important", styles)
    assert "prefers-color-scheme: dark" in styles and "[data-ogsc] .fg-text div" in styles
    # inlined: text blocks carry their font, CJK fallbacks included, in a style attribute
    assert doc.xpath('//div[contains(@style, "font-family:-apple-system")]')
    fonts = {re.search(r"font-family:\s*([^;]+)", e.get("style")).group(1)
             for e in doc.xpath('//*[contains(@style, "font-family")]')}
    assert fonts and all("PingFang HK" in f and "Noto Sans CJK SC" in f for f in fonts), fonts


def test_text_part_is_readable(built):
    _, _, text = built
    assert "<" not in text.replace("<b>", "")
    assert text.startswith("Test Weekly - Issue 1, 30 June 2019")
    assert "Hi {{name}}," in text and "Unsubscribe: {{unsubscribe_url}}" in text
    assert "Qingyuan maglev opens\n" in text and "https://gba.example.org/maglev/" in text
    assert "* Fees cut: Passport fees fall from RMB160 to RMB120 on July 1." in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_content_is_escaped_and_cannot_forge_placeholders(workspace_dir, run_cli):
    post(workspace_dir, "evil", "Tags <script>alert(1)</script> & {{unsubscribe_url}}",
         "2019-06-25", "technology", body="Hello {{name}} <img src=x onerror=alert(1)>")
    run_cli(workspace_dir, "issue", "new", "--week", "2019-W26")
    assert run_cli(workspace_dir, "issue", "build", "2019-W26").exit_code == 0
    page = (workspace_dir / "issues/2019-W26/build/email.html").read_text()
    text = (workspace_dir / "issues/2019-W26/build/email.txt").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "onerror" not in page
    # only the template's own placeholders remain
    assert page.count("{{unsubscribe_url}}") == 1 and page.count("{{name}}") == 1
    assert text.count("{{name}}") == 1


def test_workspace_template_overrides_package_default(workspace_dir, run_cli):
    week_26(workspace_dir)
    theme = (REPO / "src/gbaletter/templates/email/_theme.j2").read_text()
    write(workspace_dir / "templates/email/_theme.j2",
          theme.replace('brand = "#2f4858"', 'brand = "#123456"').replace('accent = "#a8324f"', 'accent = "#654321"'))
    run_cli(workspace_dir, "issue", "new", "--week", "2019-W26")
    assert run_cli(workspace_dir, "issue", "build", "2019-W26").exit_code == 0
    page = (workspace_dir / "issues/2019-W26/build/email.html").read_text()
    assert "#123456" in page and "#654321" in page


# --- bad input: one clear line, a non-zero exit, nothing half-written -------------------------

@pytest.fixture
def issue_ready(workspace_dir, run_cli):
    week_26(workspace_dir)
    assert run_cli(workspace_dir, "issue", "new", "--week", "2019-W26").exit_code == 0
    assert run_cli(workspace_dir, "issue", "build", "2019-W26").exit_code == 0
    return workspace_dir


def _build_unchanged(root, run_cli, expected_error):
    folder = root / "issues/2019-W26/build"
    before = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    result = run_cli(root, "issue", "build", "2019-W26")
    assert result.exit_code == 1
    assert len(result.error_lines) == 1, result.stderr
    assert expected_error in result.error_lines[0]
    assert "Traceback" not in result.stderr
    assert {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert [p.name for p in folder.parent.iterdir()] == ["issue.yaml", "build"] or \
        sorted(p.name for p in folder.parent.iterdir()) == ["build", "issue.yaml"]
    return result


def test_unknown_post_in_manifest(issue_ready, run_cli):
    path = issue_ready / "issues/2019-W26/issue.yaml"
    path.write_text(path.read_text().replace('- "star"', '- "no-such-post"'))
    _build_unchanged(issue_ready, run_cli,
                     "issues/2019-W26/issue.yaml: unknown post 'no-such-post' in 'featured' (no posts/no-such-post.md)")


def test_broken_front_matter_names_file_and_line(issue_ready, run_cli):
    path = issue_ready / "posts/star.md"
    path.write_text(path.read_text().replace("tags: [finance]", "tags: [finance"))
    _build_unchanged(issue_ready, run_cli, "posts/star.md:4: invalid YAML")


def test_template_syntax_error_names_template_and_line(issue_ready, run_cli):
    write(issue_ready / "templates/email/_footer.mjml.j2", "<mj-section>\n{% if %}\n</mj-section>\n")
    result = _build_unchanged(issue_ready, run_cli, "template syntax error")
    assert "templates/email/_footer.mjml.j2:2:" in result.error_lines[0]


def test_template_undefined_name_names_template_and_line(issue_ready, run_cli):
    write(issue_ready / "templates/email/_footer.mjml.j2", "<mj-section>\n\n{{ no_such_thing }}\n</mj-section>\n")
    result = _build_unchanged(issue_ready, run_cli, "'no_such_thing' is undefined")
    assert "_footer.mjml.j2:3:" in result.error_lines[0]


@pytest.mark.parametrize("text, expected, line", [
    ("<mj-section>\n{{ 1 // 0 }}\n</mj-section>\n", "template error: integer division or modulo by zero", 2),
    ('<mj-section>\n{% include "email/_footer.mjml.j2" %}\n</mj-section>\n',
     "template error: templates include one another without end", 2),
])
def test_a_template_that_cannot_be_rendered_is_one_line(issue_ready, run_cli, text, expected, line):
    """Arithmetic and a template including itself were tracebacks (issue 23 #8)."""
    write(issue_ready / "templates/email/_footer.mjml.j2", text)
    result = _build_unchanged(issue_ready, run_cli, expected)
    assert f"_footer.mjml.j2:{line}:" in result.error_lines[0]


def test_invalid_mjml(issue_ready, run_cli):
    write(issue_ready / "templates/email/_footer.mjml.j2", "<mj-section><mj-column><mj-text>oops</mj-section>\n")
    _build_unchanged(issue_ready, run_cli, "email/issue.mjml.j2: invalid MJML")


def test_unknown_issue(workspace_dir, run_cli):
    result = run_cli(workspace_dir, "issue", "build", "2019-W99")
    assert result.exit_code == 1 and "no issue '2019-W99'" in result.stderr


def test_unwritable_issue_folder(issue_ready, run_cli, read_only):
    folder = issue_ready / "issues/2019-W26"
    before = (folder / "build/email.html").read_bytes()
    read_only(folder)
    result = run_cli(issue_ready, "issue", "build", "2019-W26")
    assert result.exit_code == 1
    assert result.error_lines[0].startswith("error: cannot write ")
    assert (folder / "build/email.html").read_bytes() == before


def test_size_limit_refuses_past_gmail_clipping(workspace_dir, run_cli):
    long_excerpt = "word " * 3000
    for n in range(8):
        post(workspace_dir, f"long{n}", f"Long {n}", f"2019-06-{24 + n % 7}", "technology",
             extra=f"excerpt: {long_excerpt}\n")
    run_cli(workspace_dir, "issue", "new", "--week", "2019-W26")
    refused = run_cli(workspace_dir, "issue", "build", "2019-W26")
    assert refused.exit_code == 1 and "Gmail clips messages over 102 KB" in refused.stderr
    assert not (workspace_dir / "issues/2019-W26/build").exists()
    forced = run_cli(workspace_dir, "issue", "build", "2019-W26", "--force")
    assert forced.exit_code == 0 and "warning: email.html is" in forced.stderr


def test_linked_stylesheets_are_never_fetched(workspace_dir, run_cli):
    """premailer's default would download linked CSS (fonts) on every build; offline it must not try."""
    week_26(workspace_dir)
    from gbaletter.issue.templates import template_environment
    default = template_environment(workspace_dir / "templates").loader.get_source(
        template_environment(workspace_dir / "templates"), "email/issue.mjml.j2")[0]
    write(workspace_dir / "templates/email/issue.mjml.j2", default.replace(
        "<mj-breakpoint", '<mj-raw><link rel="stylesheet" href="https://fonts.invalid/lato.css"></mj-raw>\n'
                    '    <mj-breakpoint'))
    run_cli(workspace_dir, "issue", "new", "--week", "2019-W26")
    result = run_cli(workspace_dir, "issue", "build", "2019-W26")
    assert result.exit_code == 0, result.stderr
    assert "https://fonts.invalid/lato.css" in (workspace_dir / "issues/2019-W26/build/email.html").read_text()


def test_build_state_sees_every_input_change_and_is_taken_once(built, workspace_dir):
    from gbaletter.config import load_workspace
    from gbaletter.issue.built import build_state, read_build

    ws = load_workspace(workspace_dir)
    state = build_state(ws, "2019-W26")
    assert state.up_to_date and state.info is not None and state.info["inputs"] == state.inputs
    changed = {"a post of the issue": state.contents.posts[0].path,
               "the manifest": workspace_dir / "issues/2019-W26/issue.yaml"}
    for what, path in changed.items():
        original = path.read_text(encoding="utf-8")
        path.write_text(original + "\n", encoding="utf-8")
        assert not build_state(ws, "2019-W26").up_to_date, what
        # a state already taken is handed on: read_build does not look at the inputs again
        assert read_build(ws, "2019-W26", state).up_to_date
        assert not read_build(ws, "2019-W26").up_to_date
        path.write_text(original, encoding="utf-8")
    assert build_state(ws, "2019-W26").up_to_date


def test_an_input_saved_while_the_build_ran_makes_the_build_just_made_stale(built, workspace_dir):
    """`issue build` checks the build it just made from the manifest and content that build loaded
    (`state_of`), but hashes the inputs again: a post saved meanwhile is seen."""
    from gbaletter.config import load_workspace
    from gbaletter.issue.built import state_of
    from gbaletter.issue.render import build_issue

    ws = load_workspace(workspace_dir)
    build = build_issue(ws, "2019-W26", force=True)
    assert state_of(ws, build).up_to_date
    post_path = build.contents.posts[0].path
    post_path.write_text(post_path.read_text(encoding="utf-8") + "\nSaved during the build.\n", encoding="utf-8")
    state = state_of(ws, build)
    assert not state.up_to_date and state.manifest is build.manifest and state.contents is build.contents


def test_the_recorded_inputs_see_every_change_the_full_state_sees(built, workspace_dir):
    """What a send reads (build.json's own list of inputs, no build stack) decides as build_state."""
    from gbaletter.config import load_workspace
    from gbaletter.issue.built import build_state
    from gbaletter.issue.recorded import read_build_files

    ws = load_workspace(workspace_dir)
    state = build_state(ws, "2019-W26")
    recorded = read_build_files(ws, "2019-W26")
    assert recorded is not None and recorded.up_to_date and recorded.info == state.info
    post = state.contents.posts[0].path
    assert str(post.relative_to(workspace_dir)) in recorded.info["files"]
    changes = {"a post of the issue": (post, lambda text: text + "\n"),
               "the manifest": (workspace_dir / "issues/2019-W26/issue.yaml", lambda text: text + "\n"),
               "the newsletter settings": (workspace_dir / "gbaletter.toml",
                                           lambda text: text.replace("Test Weekly", "Test Weekly Plus")),
               "a template": (workspace_dir / "templates/email/_extra.j2", lambda text: "new\n")}
    for what, (path, change) in changes.items():
        original = path.read_text(encoding="utf-8") if path.exists() else None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(change(original or ""), encoding="utf-8")
        ws = load_workspace(workspace_dir)
        full, lean = build_state(ws, "2019-W26").up_to_date, read_build_files(ws, "2019-W26")
        assert lean is not None and (full, lean.up_to_date) == (False, False), what
        if original is None:
            path.unlink()
        else:
            path.write_text(original, encoding="utf-8")
    post.rename(post.with_suffix(".gone"))  # an input removed: stale, not an error
    lean = read_build_files(load_workspace(workspace_dir), "2019-W26")
    assert lean is not None and not lean.up_to_date


def test_build_goes_stale_with_the_newsletter_settings_not_with_the_smtp_ones(built, workspace_dir):
    from gbaletter.config import load_workspace
    from gbaletter.issue.built import build_state

    config = workspace_dir / "gbaletter.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("port = 8025", "port = 2525\nconcurrency = 3"), encoding="utf-8")
    assert build_state(load_workspace(workspace_dir), "2019-W26").up_to_date
    config.write_text(text.replace('name = "Test Weekly"', 'name = "Test Weekly Plus"'), encoding="utf-8")
    assert not build_state(load_workspace(workspace_dir), "2019-W26").up_to_date


def test_a_10_mb_paragraph_is_kept_whole_and_refused_for_its_size(issue_ready, run_cli):
    """libxml2 cut a text of over 10 MB and the build said it succeeded (issue 23 #9)."""
    star = issue_ready / "posts/star.md"
    head, _, _ = star.read_text().partition("\n---\n")
    star.write_text(head + "\n---\n\n" + "港股通 " * 2_700_000 + "THE-LAST-WORDS\n")
    result = run_cli(issue_ready, "issue", "build", "2019-W26")
    assert result.exit_code == 1
    assert re.fullmatch(r"error: email\.html is [0-9.]+ KB: Gmail clips messages over 102 KB "
                        r"\(shorten the issue, or pass --force\)", result.error_lines[0])
    assert float(result.error_lines[0].split(" is ")[1].split(" KB")[0]) > 10 * 1024
    forced = run_cli(issue_ready, "issue", "build", "2019-W26", "--force")
    assert forced.exit_code == 0, forced.stderr
    html = (issue_ready / "issues/2019-W26/build/email.html").read_text(encoding="utf-8")
    assert "THE-LAST-WORDS" in html and html.count("港股通") == 2_700_000
    assert html.rstrip().endswith("</html>")


def test_a_build_run_inside_another_program_freezes_none_of_its_objects(built):
    """`issue build` leaves its imports out of later garbage collections only in its own process:
    here (the CLI run in the tests' process) nothing may be frozen for good."""
    import gc

    assert gc.get_freeze_count() == 0
