"""Every subscriber reads one of the desk's languages: import, CLI, segments, show and export."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from support.subscriber_helpers import ok, open_db
from support.workspace import DATA, MINIMAL_CONFIG

from gbaletter.subscribers.service import find_subscriber, set_language
from gbaletter.languages import UnknownLanguage

TRILINGUAL = MINIMAL_CONFIG.replace("[newsletter]\n", '[newsletter]\nlanguages = ["en", "zh-Hant", "zh-Hans"]\n')
MEMBERS = DATA / "editions_members.csv"


def members_file(folder: Path) -> str:
    """The fixture's CSV copied into the test's own folder, where the rejected rows' file goes."""
    return str(shutil.copy(MEMBERS, folder / "members.csv"))


def _trilingual(workspace_dir):  # type: ignore[no-untyped-def]
    (workspace_dir / "gbaletter.toml").write_text(TRILINGUAL, encoding="utf-8")
    return workspace_dir


def _members(run_cli, workspace_dir, *args) -> list[dict]:  # type: ignore[no-untyped-def]
    return json.loads(ok(run_cli(workspace_dir, "subscribers", "list", "--json", *args)))


def _languages(run_cli, workspace_dir) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {member["email"]: member["language"] for member in _members(run_cli, workspace_dir)}


def test_the_csv_language_column_is_normalized_and_an_unknown_one_rejects_the_row(workspace_dir, run_cli):
    _trilingual(workspace_dir)
    result = run_cli(workspace_dir, "subscribers", "import", members_file(workspace_dir), "--rejects",
                     str(workspace_dir / "rejected.csv"))
    assert result.exit_code == 3
    assert result.error_lines == ["error: 1 row rejected; the reasons are in rejected.csv"]
    assert _languages(run_cli, workspace_dir) == {
        "chan.tai.man@example.com": "zh-Hant", "lam.ka.yee@example.com": "zh-Hant",
        "leong.ioi@example.com": "zh-Hant", "zhang.wei@example.com": "zh-Hans",
        "li.na@example.com": "zh-Hans", "ho.sally@example.com": "en", "wong.peter@example.com": "en"}
    with open(workspace_dir / "rejected.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[1][:3] == ["9", "unknown language 'fr': the desk's languages are en, zh-Hant, zh-Hans",
                           "dupont.claire@example.com"]


def test_a_row_for_a_known_address_changes_its_language_only_when_it_names_one(workspace_dir, run_cli,
                                                                             tmp_path):
    _trilingual(workspace_dir)
    run_cli(workspace_dir, "subscribers", "import", members_file(workspace_dir))
    again = tmp_path / "again.csv"
    again.write_text("email,language\nwong.peter@example.com,繁體中文\nzhang.wei@example.com,\n",
                     encoding="utf-8")
    report = json.loads(ok(run_cli(workspace_dir, "subscribers", "import", str(again), "--json")))
    assert (report["updated"], report["duplicates"]) == (1, 1)
    languages = _languages(run_cli, workspace_dir)
    assert (languages["wong.peter@example.com"], languages["zhang.wei@example.com"]) == ("zh-Hant", "zh-Hans")


def test_a_desk_without_simplified_rejects_simplified_rows(workspace_dir, run_cli):
    (workspace_dir / "gbaletter.toml").write_text(
        MINIMAL_CONFIG.replace("[newsletter]\n", '[newsletter]\nlanguages = ["zh-Hant", "en"]\n'), encoding="utf-8")
    result = run_cli(workspace_dir, "subscribers", "import", members_file(workspace_dir), "--json")
    assert json.loads(result.output)["rejected"] == 3
    assert _languages(run_cli, workspace_dir)["wong.peter@example.com"] == "zh-Hant"  # the desk's default


def test_set_language_records_the_change_in_the_history(workspace_dir, run_cli):
    _trilingual(workspace_dir)
    ok(run_cli(workspace_dir, "subscribers", "add", "chan.tai.man@example.com", "--language", "zh-HK"))
    assert ok(run_cli(workspace_dir, "subscribers", "set-language", "chan.tai.man@example.com", "zh_CN",
                      "--reason", "asked by email")) == "language: zh-Hans\n"
    assert ok(run_cli(workspace_dir, "subscribers", "set-language", "chan.tai.man@example.com",
                      "zh-Hans")) == "already zh-Hans\n"
    shown = json.loads(ok(run_cli(workspace_dir, "subscribers", "show", "chan.tai.man@example.com", "--json")))
    assert shown["subscriber"]["language"] == "zh-Hans"
    assert [(e["old_status"], e["new_status"], e["reason"]) for e in shown["events"]] == [
        ("active", "active", "language zh-Hant -> zh-Hans: asked by email")]
    text = ok(run_cli(workspace_dir, "subscribers", "show", "chan.tai.man@example.com"))
    assert "language zh-Hant -> zh-Hans: asked by email" in text
    result = run_cli(workspace_dir, "subscribers", "set-language", "chan.tai.man@example.com", "klingon")
    assert result.exit_code == 1
    assert result.error_lines == [
        "error: unknown language 'klingon': the desk's languages are en, zh-Hant, zh-Hans"]


def test_the_service_refuses_a_language_outside_the_desk(workspace_dir, run_cli):
    _trilingual(workspace_dir)
    ok(run_cli(workspace_dir, "subscribers", "add", "ho.sally@example.com"))
    with open_db(workspace_dir).session() as session:
        subscriber = find_subscriber(session, "ho.sally@example.com")
        assert subscriber.language == "en"
        with pytest.raises(UnknownLanguage, match=r"^unknown language 'zh-Hans': the desk's languages are "
                                                  r"en, zh-Hant$"):
            set_language(session, subscriber, "zh-Hans", languages=["en", "zh-Hant"], actor="test")
        assert subscriber.language == "en"


def test_segments_select_by_language_in_any_spelling(workspace_dir, run_cli):
    _trilingual(workspace_dir)
    run_cli(workspace_dir, "subscribers", "import", members_file(workspace_dir))
    for expression in ('language = "zh-Hant"', "language:zh-HK", "language in (zh-TW, zh-MO)"):
        members = _members(run_cli, workspace_dir, "--where", expression)
        assert [m["name"] for m in members] == ["陳大文", "林嘉儀", "梁愛"], expression
    members = _members(run_cli, workspace_dir, "--where", "language != en and tag:technology")
    assert [m["name"] for m in members] == ["林嘉儀", "李娜"]
    result = run_cli(workspace_dir, "subscribers", "list", "--where", "language:klingon")
    assert result.error_lines == ["error: segment: column 10: unknown language 'klingon' "
                                  "(languages: en, zh-Hant, zh-Hans) in: language:klingon"]
    result = run_cli(workspace_dir, "subscribers", "list", "--where", "language > en")
    assert result.exit_code == 1 and "'language' compares with = != in or language:TAG" in result.stderr


def test_export_carries_the_language_and_reads_back(workspace_dir, run_cli, tmp_path):
    _trilingual(workspace_dir)
    run_cli(workspace_dir, "subscribers", "import", members_file(workspace_dir))
    exported = tmp_path / "export.csv"
    ok(run_cli(workspace_dir, "subscribers", "export", "-o", str(exported)))
    with open(exported, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {row["email"]: row["language"] for row in rows}["zhang.wei@example.com"] == "zh-Hans"
    with open_db(workspace_dir).session() as session:
        set_language(session, find_subscriber(session, "zhang.wei@example.com"), "en",
                     languages=["en", "zh-Hant", "zh-Hans"], actor="test")
    report = json.loads(ok(run_cli(workspace_dir, "subscribers", "import", str(exported), "--json")))
    assert report["updated"] == 1
    assert _languages(run_cli, workspace_dir)["zhang.wei@example.com"] == "zh-Hans"
