"""`gbaletter issue new`: choosing a week's content by date (workspace timezone) and tag."""

import yaml

from support.issue_content import post, week_26


def manifest(root, issue_id="2019-W26"):
    return yaml.safe_load((root / "issues" / issue_id / "issue.yaml").read_text())


def test_week_selects_by_hong_kong_time_and_default_tags(workspace_dir, run_cli):
    week_26(workspace_dir)
    result = run_cli(workspace_dir, "issue", "new", "--week", "2019-W26")
    assert result.exit_code == 0, result.stderr
    data = manifest(workspace_dir)
    chosen = data["featured"] + data["posts"]
    # default tags are technology and finance: the policy post stays out
    assert sorted(chosen) == ["evs", "maglev", "star", "towers", "utc-edge"]
    assert data["featured"] == ["evs", "towers", "star"]  # newest first, featured_count = 3
    assert data["briefs"] == ["2019-06-25-briefs-1", "2019-06-25-briefs-2"]
    assert data["number"] == 1 and data["id"] == "2019-W26"
    assert data["subject"] == "Test Weekly #1: Electric cars"
    assert "2 briefs" in data["preheader"]
    assert "issues/2019-W26/issue.yaml" in result.output


def test_tags_and_date_range(workspace_dir, run_cli):
    week_26(workspace_dir)
    result = run_cli(workspace_dir, "issue", "new", "--from", "2019-06-26", "--to", "2019-06-28",
                     "--tag", "policy", "--tag", "finance")
    assert result.exit_code == 0, result.stderr
    data = manifest(workspace_dir, "2019-06-26_2019-06-28")
    assert data["featured"] == ["policy", "star"] and data["briefs"] == []


def test_numbers_follow_the_last_issue_and_existing_issue_is_kept(workspace_dir, run_cli):
    week_26(workspace_dir)
    post(workspace_dir, "july", "July post", "2019-07-02", "technology")
    assert run_cli(workspace_dir, "issue", "new", "--week", "2019-W26").exit_code == 0
    before = (workspace_dir / "issues/2019-W26/issue.yaml").read_bytes()
    again = run_cli(workspace_dir, "issue", "new", "--week", "2019-W26")
    assert again.exit_code == 1
    assert again.error_lines == ["error: issue 2019-W26 already exists (issues/2019-W26/issue.yaml); "
                                 "edit it, or pass --force to replace it"]
    assert (workspace_dir / "issues/2019-W26/issue.yaml").read_bytes() == before
    assert run_cli(workspace_dir, "issue", "new", "--week", "2019-W27").exit_code == 0
    assert manifest(workspace_dir, "2019-W27")["number"] == 2
    assert run_cli(workspace_dir, "issue", "new", "--week", "2019-W26", "--force").exit_code == 0
    assert manifest(workspace_dir)["number"] == 1


def test_week_without_content_says_so(workspace_dir, run_cli):
    week_26(workspace_dir)
    result = run_cli(workspace_dir, "issue", "new", "--week", "2019-W40")
    assert result.exit_code == 2
    assert result.error_lines == ["error: no posts or briefs dated 2019-09-30 to 2019-10-06 "
                                  "with tags technology, finance"]
    assert not (workspace_dir / "issues" / "2019-W40").exists()


def test_bad_week_and_missing_range(workspace_dir, run_cli):
    bad = run_cli(workspace_dir, "issue", "new", "--week", "2019-26")
    assert bad.exit_code == 1 and "'2019-26' is not an ISO week" in bad.stderr
    none = run_cli(workspace_dir, "issue", "new")
    assert none.exit_code == 1 and "give a week" in none.stderr
    backwards = run_cli(workspace_dir, "issue", "new", "--from", "2019-07-01", "--to", "2019-06-01")
    assert backwards.exit_code == 1 and "ends (2019-06-01) before it starts" in backwards.stderr


def test_dates_beyond_what_python_holds_are_one_line(workspace_dir, run_cli):
    """The week after 9999-W52 and year 1 at +14:00 were OverflowErrors (issue 23 #8)."""
    for args in (["--week", "9999-W52"], ["--from", "9999-12-30", "--to", "9999-12-31"],
                 ["--week", "0001-W01"]):
        result = run_cli(workspace_dir, "issue", "new", *args)
        assert result.exit_code == 1 and len(result.error_lines) == 1, result.stderr
        assert "is out of range (dates are in the years 1900 to 9998)" in result.error_lines[0]
    week_26(workspace_dir)
    post(workspace_dir, "0001-01-01-year-one", "Year one", "0001-01-01 00:00+14:00", "technology")
    for command in (["issue", "new", "--week", "2019-W26"], ["posts", "list"]):
        result = run_cli(workspace_dir, *command)
        [line] = result.error_lines
        assert result.exit_code == 1 and line.endswith(
            "posts/0001-01-01-year-one.md: 'date': '0001-01-01 00:00+14:00' is out of range "
            "(dates are in the years 1900 to 9998)"), result.stderr


def test_manifest_is_commented_and_reads_back(workspace_dir, run_cli):
    week_26(workspace_dir)
    run_cli(workspace_dir, "issue", "new", "--week", "2019-W26")
    text = (workspace_dir / "issues/2019-W26/issue.yaml").read_text()
    assert '- "maglev"  # Qingyuan maglev opens' in text
    assert "# Featured posts" in text


def test_posts_list_filters(workspace_dir, run_cli):
    week_26(workspace_dir)
    result = run_cli(workspace_dir, "posts", "list", "--week", "2019-W26", "--tag", "finance")
    assert result.exit_code == 0
    assert "Guangdong STAR market" in result.output and "Electric cars" not in result.output
    assert "1 post, 0 briefs" in result.output


def test_a_trial_issue_leaves_number_1_to_the_first_real_issue(workspace_dir, run_cli):
    week_26(workspace_dir)
    trial = run_cli(workspace_dir, "issue", "new", "--week", "2019-W26", "--trial")
    assert trial.exit_code == 0 and trial.output.startswith("issue trial-2019-W26 (a trial): ")
    assert manifest(workspace_dir, "trial-2019-W26")["number"] == 0
    assert manifest(workspace_dir, "trial-2019-W26")["subject"].startswith("Test Weekly trial: ")
    assert run_cli(workspace_dir, "issue", "build", "trial-2019-W26").exit_code == 0
    assert run_cli(workspace_dir, "issue", "new", "--week", "2019-W26").exit_code == 0
    assert manifest(workspace_dir)["number"] == 1
    assert manifest(workspace_dir)["subject"].startswith("Test Weekly #1: ")
