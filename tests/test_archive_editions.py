"""The archive of an issue sent in three editions (the trilingual desk of tests/data/editions, sent
through aiosmtpd on 127.0.0.1, served by uvicorn on 127.0.0.1): a page per edition, each naming
the others as hreflang alternates; the list, /archive/latest and the feed in the reader's language."""

from __future__ import annotations

import shutil

import feedparser
import httpx
import pytest
from lxml import html as lxml_html

from gbaletter.config import load_workspace
from gbaletter.issue.browser import chromium
from gbaletter.issue.published import read_sent_copy, sent_folder
from gbaletter.web.app import create_app
from support.smtp_server import free_port
from support.web_server import serving
from support.workspace import DATA

ISSUE = "2019-W27"
BASE = "https://gba.example.org/newsletter"
PAGE = f"{BASE}/archive/{ISSUE}"
# hreflang (the page's lang) -> its address, its subject
EDITIONS = {
    "en": (PAGE, "GBA Weekly #2: Macau's light rail heads for Hengqin"),
    "zh-Hant-HK": (f"{PAGE}/zh-Hant", "大灣區週報第2期：澳門輕軌伸向橫琴"),
    "zh-Hans": (f"{PAGE}/zh-Hans", "大湾区周报第2期：澳门轻轨伸向横琴"),
}


@pytest.fixture
def sent_desk(tmp_path, run_cli, mail_env):  # type: ignore[no-untyped-def]
    """The desk with issue 2019-W27 sent to its readers, and the mail they got."""
    desk = tmp_path / "desk"
    shutil.copytree(DATA / "editions", desk)
    members = shutil.copy(DATA / "editions_members.csv", tmp_path / "members.csv")
    assert run_cli(desk, "subscribers", "import", str(members)).output.startswith("added       7\n")
    built = run_cli(desk, "issue", "build", ISSUE)
    assert built.exit_code == 0, built.stderr
    sent = run_cli(desk, "issue", "send", ISSUE, "--segment", "language in (en, zh-Hant, zh-Hans)")
    assert sent.exit_code == 0, sent.stderr
    return load_workspace(desk), mail_env.received


def _path(url: str) -> str:
    assert url.startswith(BASE), url
    return url.removeprefix(BASE)


def test_the_sent_copy_keeps_every_edition(sent_desk):
    ws, received = sent_desk
    folder = sent_folder(ws, ISSUE)
    for language in ("en", "zh-Hant", "zh-Hans"):  # the file each edition's readers were sent
        assert (folder / f"email.{language}.html").read_bytes() == \
            (ws.issue_dir(ISSUE) / "build" / f"email.{language}.html").read_bytes()
    assert not list(folder.glob("*.txt"))  # the archive shows no text part
    copy = read_sent_copy(ws, ISSUE)
    assert copy is not None
    assert [(e.language, e.subject, e.file) for e in copy.editions] == [
        ("en", EDITIONS["en"][1], "email.en.html"), ("zh-Hant", EDITIONS["zh-Hant-HK"][1], "email.zh-Hant.html"),
        ("zh-Hans", EDITIONS["zh-Hans"][1], "email.zh-Hans.html")]
    assert copy.editions[1].preheader == "另有橫琴首批澳門企業、深圳灣口岸延長通關"
    # each reader's "View in browser" opens their own edition's page
    views = {r.rcpt: r.message.get_body(("plain",)).get_content().splitlines()[1].split()[-1] for r in received}
    assert views["chan.tai.man@example.com"] == f"{PAGE}/zh-Hant"
    assert views["zhang.wei@example.com"] == f"{PAGE}/zh-Hans"
    assert views["ho.sally@example.com"] == PAGE


def test_each_edition_has_its_page_with_hreflang_alternates(sent_desk):
    ws, _ = sent_desk
    with serving(create_app(ws), free_port()) as url, httpx.Client(base_url=url) as http:
        for lang, (address, subject) in EDITIONS.items():
            response = http.get(_path(address), headers={"Accept-Language": "en"})
            assert response.status_code == 200, address
            page = lxml_html.fromstring(response.text)
            assert page.get("lang") == lang
            assert page.findtext(".//title") == subject
            metas = {m.get("property") or m.get("name"): m.get("content") for m in page.xpath("//head/meta")}
            assert (metas["og:title"], metas["og:url"]) == (subject, address)
            assert page.xpath("//head/link[@rel='canonical']/@href") == [address]
            alternates = {link.get("hreflang"): link.get("href")
                          for link in page.xpath("//head/link[@rel='alternate'][@hreflang]")}
            assert alternates == {**{tag: edition[0] for tag, edition in EDITIONS.items()}, "x-default": PAGE}
            assert "{{" not in response.text and "/u/" not in response.text
        chinese = lxml_html.fromstring(http.get(_path(EDITIONS["zh-Hant-HK"][0])).text)
        assert chinese.xpath("//a[normalize-space()='取消訂閱']/@href") == [f"{BASE}/subscribe?lang=zh-Hant"]
        assert f"{PAGE}/zh-Hant" in chinese.xpath("//a/@href")  # its own "view in browser"

        for spelling, answer in (("zh-HK", "/zh-Hant"), ("zh-cn", "/zh-Hans"), ("en", ""), ("EN-gb", "")):
            moved = http.get(f"/archive/{ISSUE}/{spelling}")
            assert (moved.status_code, moved.headers["location"]) == (301, PAGE + answer)
        assert http.get(f"/archive/{ISSUE}/fr").status_code == 404
        assert http.get(f"/archive/{ISSUE}/zh-Hant/x").status_code == 404


def test_each_page_greets_in_the_word_its_send_used(sent_desk):
    """A page greets with the word the send recorded for its edition, whatever the settings say later."""
    ws, _ = sent_desk
    config = ws.root / "gbaletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'list_id =', 'name_fallback = "friend"\nlist_id ='), encoding="utf-8")
    ws = load_workspace(ws.root)
    assert ws.config.newsletter.name_fallback == "friend"
    greetings = {"en": "Hi reader,", "zh-Hant-HK": "讀者，你好：", "zh-Hans": "读者，您好："}
    with serving(create_app(ws), free_port()) as url, httpx.Client(base_url=url) as http:
        for lang, (address, _subject) in EDITIONS.items():
            text = lxml_html.fromstring(http.get(_path(address)).text).text_content()
            assert greetings[lang] in text and "friend" not in text, lang


def test_the_list_latest_and_feed_offer_the_readers_edition(sent_desk):
    ws, _ = sent_desk
    with serving(create_app(ws), free_port()) as url, httpx.Client(base_url=url) as http:
        for headers, params, lang in (({"Accept-Language": "zh-HK,zh;q=0.9"}, {}, "zh-Hant-HK"),
                                      ({"Accept-Language": "en"}, {"lang": "zh-CN"}, "zh-Hans"),
                                      ({"Accept-Language": "en-GB"}, {}, "en")):
            address, subject = EDITIONS[lang]
            listed = lxml_html.fromstring(http.get("/archive", headers=headers, params=params).text)
            assert listed.get("lang") == lang
            [link] = listed.xpath("//ol[@class='issues']//a")
            assert (link.get("href"), link.text) == ("./" + _path(address).lstrip("/"), subject)

            latest = http.get("/archive/latest", headers=headers, params=params)
            assert (latest.status_code, latest.headers["location"]) == (307, address)
            assert "accept-language" in latest.headers["vary"].lower()

            response = http.get("/archive/feed.xml", headers=headers, params=params)
            feed = feedparser.parse(response.content)
            assert not feed.bozo and feed.feed.language == lang
            [entry] = feed.entries
            assert (entry.title, entry.link, entry.id) == (subject, address, address)
            [feed_link] = listed.xpath("//head/link[@type='application/atom+xml']/@href")
            assert feed.feed.links[0].href == feed_link  # the list names the feed of its language


@pytest.mark.usefixtures("chromium")
def test_the_chinese_pages_fit_a_phone_and_a_desktop_in_chromium(tmp_path, run_cli, mail_env):
    """The Traditional edition's archive page and a Simplified reader's unsubscribe page, opened by
    an English browser at 375 and 800 px: in their language, and nothing wider than the window."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/newsletter"  # the images come from the server itself
    desk = tmp_path / "desk"
    shutil.copytree(DATA / "editions", desk)
    config = desk / "gbaletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(BASE, base), encoding="utf-8")
    members = shutil.copy(DATA / "editions_members.csv", tmp_path / "members.csv")
    assert run_cli(desk, "subscribers", "import", str(members)).output.startswith("added       7\n")
    assert run_cli(desk, "issue", "build", ISSUE).exit_code == 0
    sent = run_cli(desk, "issue", "send", ISSUE, "--segment", "language in (en, zh-Hant, zh-Hans)",
                   "--ignore-check")  # the check refuses links to 127.0.0.1, rightly
    assert sent.exit_code == 0, sent.stderr
    [message] = [r.message for r in mail_env.received if r.rcpt == "zhang.wei@example.com"]
    unsubscribe = lxml_html.fromstring(message.get_body(("html",)).get_content()).xpath(
        "//a[normalize-space()='退订']/@href")[0]
    ws = load_workspace(desk)
    pages = {f"{base}/archive/{ISSUE}/zh-Hant": ("zh-Hant-HK", "澳門輕軌將延伸至橫琴"),
             unsubscribe: ("zh-Hans", "退订《GBA Weekly》？")}
    with serving(create_app(ws), port), chromium() as browser:
        for width in (375, 800):
            for address, (lang, text) in pages.items():
                page = browser.new_page(viewport={"width": width, "height": 740}, locale="en-GB")
                assert page.goto(address).status == 200
                assert page.evaluate("document.documentElement.lang") == lang
                assert page.get_by_text(text).first.is_visible()
                assert page.evaluate("document.documentElement.scrollWidth") <= width, (address, width)
                page.close()
