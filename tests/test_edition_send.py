"""Done when of issue 19: the trilingual desk of tests/data/editions, its readers imported from a
CSV, built into three editions and sent through a real SMTP server (aiosmtpd on 127.0.0.1): each
reader's message arrives in their language (subject, lang, labels, dates, Content-Language)."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import opencc
from lxml import html as lxml_html

from support.workspace import DATA

ISSUE = "2019-W27"
# the edition's subject, the root's lang, a label, the issue's date as the edition writes it
EXPECTED = {
    "en": ("GBA Weekly #2: Macau's light rail heads for Hengqin", "en", "Top stories", "7 July 2019"),
    "zh-Hant": ("大灣區週報第2期：澳門輕軌伸向橫琴", "zh-Hant-HK", "焦點新聞", "2019年7月7日"),
    "zh-Hans": ("大湾区周报第2期：澳门轻轨伸向横琴", "zh-Hans", "要闻", "2019年7月7日"),
}


def test_three_editions_reach_each_reader_in_their_language(tmp_path, run_cli, mail_env):
    desk = tmp_path / "desk"
    shutil.copytree(DATA / "editions", desk)
    members = shutil.copy(DATA / "editions_members.csv", tmp_path / "members.csv")
    imported = run_cli(desk, "subscribers", "import", str(members))
    assert imported.output.startswith("added       7\n")  # Claire's language (fr) is not the desk's
    built = run_cli(desk, "issue", "build", ISSUE)
    assert built.exit_code == 0, built.stderr
    sent = run_cli(desk, "issue", "send", ISSUE, "--segment", "language in (en, zh-Hant, zh-Hans)")
    assert sent.exit_code == 0, sent.stderr

    by_edition: Counter[str] = Counter()
    for received in mail_env.received:
        message = received.message
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        root = lxml_html.fromstring(html)
        edition = next(tag for tag, expected in EXPECTED.items() if expected[1] == root.get("lang"))
        subject, lang, label, day = EXPECTED[edition]
        assert str(message["Subject"]) == subject
        assert message["Content-Language"] == lang
        assert label in root.text_content() and day in root.text_content() and day in text
        by_edition[edition] += 1
        reader = {"chan.tai.man@example.com": "zh-Hant", "lam.ka.yee@example.com": "zh-Hant",
                  "leong.ioi@example.com": "zh-Hant", "zhang.wei@example.com": "zh-Hans",
                  "li.na@example.com": "zh-Hans", "ho.sally@example.com": "en",
                  "wong.peter@example.com": "en"}[received.rcpt]
        assert edition == reader, received.rcpt
    assert by_edition == {"zh-Hant": 3, "zh-Hans": 2, "en": 2}
    # the reader's name set into their edition's greeting
    greetings = {r.rcpt: r.message.get_body(("plain",)).get_content() for r in mail_env.received}
    assert "陳大文，你好：" in greetings["chan.tai.man@example.com"]
    assert "张伟，您好：" in greetings["zhang.wei@example.com"]
    assert "Hi Sally Ho," in greetings["ho.sally@example.com"]
    # the journal records each row's edition; `issue status` counts them by edition
    status = run_cli(desk, "issue", "status", ISSUE, "--json")
    assert status.exit_code == 0, status.stderr
    editions = json.loads(status.output)["editions"]
    assert {edition: states["sent"] for edition, states in editions.items()} == {"en": 2, "zh-Hans": 2,
                                                                                "zh-Hant": 3}
    table = run_cli(desk, "issue", "status", ISSUE).output.splitlines()
    assert table[0].split() == ["state", "messages", "en", "zh-Hans", "zh-Hant"]
    assert next(line for line in table if line.startswith("sent")).split() == ["sent", "7", "2", "2", "3"]


def _traditional_only(text: str) -> set[str]:
    """The characters of `text` that only Traditional writes: those OpenCC's generic
    Traditional-to-Simplified table (t2s, not the hk2s a derivation uses) would change."""
    to_simplified = opencc.OpenCC("t2s")
    return {char for char in set(text) if "\u3400" <= char <= "\u9fff" and to_simplified.convert(char) != char}


def test_derived_simplified_reaches_its_readers_without_traditional_characters(tmp_path, run_cli, mail_env):
    desk = tmp_path / "desk"
    shutil.copytree(DATA / "editions", desk)
    for address, name, language in (("chan.tai.man@example.com", "陳大文", "zh-HK"),
                                    ("zhang.wei@example.com", "张伟", "zh-CN")):
        assert run_cli(desk, "subscribers", "add", address, "--name", name, "--language", language).exit_code == 0
    # the Hengqin story is written in Traditional, the light rail one translated into Traditional:
    # their Simplified texts are derived by OpenCC after the desk's glossary; the briefs, written
    # in Simplified, get their Traditional text the same way
    for story, script in (("2019-07-03-hengqin-cooperation-zone", "zh-Hans"),
                          ("2019-07-02-macau-light-rail-hengqin", "zh-Hans"), ("2019-07-04-gba-briefs", "zh-Hant")):
        derived = run_cli(desk, "posts", "derive", story, "--to", script)
        assert derived.exit_code == 0, derived.stderr
    assert run_cli(desk, "issue", "build", ISSUE).exit_code == 0
    sent = run_cli(desk, "issue", "send", ISSUE, "--segment", "language in (zh-Hant, zh-Hans)")
    assert sent.exit_code == 0, sent.stderr

    received = {r.rcpt: r.message for r in mail_env.received}
    hans = received["zhang.wei@example.com"]
    hans_html = lxml_html.fromstring(hans.get_body(("html",)).get_content())
    hans_text = hans.get_body(("plain",)).get_content()
    assert not hans_html.xpath("//*[@lang != 'zh-Hans']")  # every story in its Simplified text
    for shown in (hans_html.text_content(), hans_text):
        # the place name and the person's name as the glossary spells them
        assert "横琴粤澳深度合作区的第一批澳门企业" in shown and "于东来说" in shown
    assert not _traditional_only(hans_html.text_content() + hans_text + str(hans["Subject"]))
    hant = received["chan.tai.man@example.com"].get_body(("plain",)).get_content()
    assert "橫琴粵澳深度合作區的第一批澳門企業" in hant and "于東來說" in hant
    assert "橫琴：橫琴粵澳深度合作區公佈首批澳門企業名單" in hant  # derived briefs (s2hk: 公佈)
    assert {"橫", "粵", "區", "東", "來"} <= _traditional_only(hant)  # what the Simplified edition has none of


def test_a_reader_without_a_name_is_greeted_in_their_editions_word(tmp_path, run_cli, mail_env):
    """The settings' fallback name ("reader") goes through each edition's catalogue at build time,
    so a Chinese edition never greets "reader，你好：" (and the send loads no catalogue)."""
    desk = tmp_path / "desk"
    shutil.copytree(DATA / "editions", desk)
    members = tmp_path / "nameless.csv"
    members.write_text("email,name,language\nhk@example.com,,zh-HK\ncn@example.com,,zh-CN\n"
                       "uk@example.com,,en-GB\n", encoding="utf-8")
    assert run_cli(desk, "subscribers", "import", str(members)).exit_code == 0
    built = run_cli(desk, "issue", "build", ISSUE)
    assert built.exit_code == 0, built.stderr
    sent = run_cli(desk, "issue", "send", ISSUE, "--segment", "language in (en, zh-Hant, zh-Hans)")
    assert sent.exit_code == 0, sent.stderr
    greetings = {r.rcpt: r.message.get_body(("plain",)).get_content() for r in mail_env.received}
    assert "讀者，你好：" in greetings["hk@example.com"]
    assert "读者，您好：" in greetings["cn@example.com"]
    assert "Hi reader," in greetings["uk@example.com"]
    assert not any("reader，" in text for text in greetings.values())
