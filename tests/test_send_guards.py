"""What a send refuses before it opens a journal, and what a rerun and a dry run say (issue 23)."""

from __future__ import annotations

import pytest

from gbaletter.config import parse_config, placeholder_settings
from gbaletter.delivery import journal
from gbaletter.delivery.guards import relay_is_local
from gbaletter.subscribers.service import add_subscriber
from support.sending import ISSUE, TECH_READERS, rows, send


def _has_journal(db) -> bool:  # type: ignore[no-untyped-def]
    with db.reader() as session:
        return journal.has_journal(session, ISSUE)


@pytest.mark.parametrize("segment, reason", [
    ("tag:technolgy", "no subscriber has the tag 'technolgy' (did you mean 'technology'?)"),
    ("tag:technology and tag:financ", "no subscriber has the tag 'financ' (did you mean 'finance'?)"),
    ("tag:zzz", "no subscriber has the tag 'zzz' (known tags: finance, technology)"),
    ("domain:nowhere.example", "(no active, unsuppressed subscriber fits it)"),
])
def test_a_segment_that_selects_nobody_is_refused_and_opens_no_journal(newsletter, run_cli, segment, reason):
    root, db, handler = newsletter
    for extra in ([], ["--dry-run"]):
        result = run_cli(root, "issue", "send", ISSUE, "--segment", segment, *extra)
        assert result.exit_code == 1
        assert result.error_lines == [
            f"error: segment {segment} matches nobody who may be mailed"
            + (": " if reason.startswith("no ") else " ") + f"{reason}; nothing was sent"]
    assert handler.received == [] and not _has_journal(db)


def test_a_saved_segment_that_selects_nobody_names_its_expression(newsletter, run_cli):
    root, db, _ = newsletter
    assert run_cli(root, "segments", "add", "tech", "tag:technolgy").exit_code == 0
    result = run_cli(root, "issue", "send", ISSUE, "--segment", "tech")
    assert result.error_lines == ["error: segment tech (tag:technolgy) matches nobody who may be "
                                  "mailed: no subscriber has the tag 'technolgy' (did you mean "
                                  "'technology'?); nothing was sent"]
    assert not _has_journal(db)


def test_a_rerun_says_who_joined_since_and_include_new_adds_them(newsletter, run_cli):
    root, db, handler = newsletter
    assert send(run_cli, root).exit_code == 0
    with db.session() as session:
        for n in range(2):
            add_subscriber(session, f"late{n}@example.net", tags=["technology"])
    dry = send(run_cli, root, "--dry-run")
    assert dry.output.startswith(f"dry run: 0 messages would go out now ({TECH_READERS + 2} members "
                                 "in tag:technology)")
    again = send(run_cli, root)
    assert again.exit_code == 0
    assert "0 messages handled" in again.output
    assert (f"a rerun to tag:technology: already sent to {TECH_READERS} subscribers; 2 joined it "
            "since and were not included (--include-new sends to them too)") in again.error_lines
    assert "late0@example.net" not in handler.counts()
    dry_new = send(run_cli, root, "--dry-run", "--include-new")
    assert dry_new.output.startswith("dry run: 2 messages would go out now")
    included = send(run_cli, root, "--include-new")
    assert included.exit_code == 0 and "2 messages handled" in included.output
    assert handler.counts()["late1@example.net"] == 1 and set(handler.counts().values()) == {1}
    assert rows(db)["late0@example.net"][0] == "sent"


def test_a_dry_run_counts_only_who_would_get_mail_now(newsletter, run_cli):
    root, _, handler = newsletter
    handler.faults["reader3@example.org"] = ["451 busy"] * 3
    assert send(run_cli, root).exit_code == 3  # reader3 deferred, everyone else sent
    result = send(run_cli, root, "--dry-run")
    assert result.output.startswith(f"dry run: 1 message would go out now ({TECH_READERS} members "
                                    "in tag:technology); rendered them")


def test_placeholders_are_refused_on_a_relay_elsewhere_but_not_on_a_local_sink(newsletter, run_cli,
                                                                                monkeypatch):
    root, db, handler = newsletter
    config = root / "gbaletter.toml"
    config.write_text(config.read_text().replace("weekly@gba.example.org", "weekly@example.org")
                      .replace("GBA Desk, 18/F Harbour Centre, 25 Harbour Road, Wan Chai, Hong Kong",
                               "1 Example Road, Hong Kong"))
    assert run_cli(root, "issue", "build", ISSUE).exit_code == 0
    monkeypatch.setenv("GBALETTER_SMTP_HOST", "192.0.2.1")  # TEST-NET-1: never connected to
    for command in (["--segment", "tag:technology"], ["--to", "chan@example.com"]):
        result = run_cli(root, "issue", "send", ISSUE, *command)
        assert result.exit_code == 1
        [line] = result.error_lines
        assert line.startswith("error: not sending through 192.0.2.1: gbaletter.toml still holds "
                               "placeholders ([newsletter] sender = 'GBA Weekly <weekly@example.org>' "
                               "is on the reserved example domain example.org; ")
        assert "[newsletter] postal_address = '1 Example Road, Hong Kong' is the sample's address" in line
        assert line.endswith("or try the issue on a local sink (`gbaletter smtp-sink`)")
    assert not _has_journal(db)
    monkeypatch.setenv("GBALETTER_SMTP_HOST", "127.0.0.1")  # a trial into the local sink still works
    assert send(run_cli, root).exit_code == 0
    assert len(handler.received) == TECH_READERS


def test_the_placeholder_rules():
    sample = parse_config("""
[newsletter]
sender = "Weekly <weekly@news.example.com>"
reply_to = "desk@newsroom.test"
base_url = "https://example.net/newsletter"
postal_address = "1 Example Road, Hong Kong"
list_id = "weekly.example.org"
[smtp]
envelope_sender = "bounces@bounce.invalid"
""")
    assert [line.split(" = ")[0] for line in placeholder_settings(sample)] == [
        "[newsletter] sender", "[newsletter] reply_to", "[smtp] envelope_sender",
        "[newsletter] base_url", "[newsletter] list_id", "[newsletter] postal_address"]
    real = parse_config("""
[newsletter]
sender = "週報 <weekly@gbanews.hk>"
base_url = "https://gbanews.hk/newsletter"
postal_address = "18/F Harbour Centre, Wan Chai"
list_id = "weekly.gbanews.hk"
[smtp]
envelope_sender = "bounces@mail.gbanews.hk"
""")
    assert placeholder_settings(real) == []
    assert relay_is_local("127.0.0.1") and relay_is_local("localhost") and relay_is_local("::1")
    assert not relay_is_local("192.0.2.1") and not relay_is_local("no-such-host.invalid")
