"""Personal pages answer in the subscriber's stored language (docs/editions.md, "Which language a
page answers in"): the pure rule, then the pages over real HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import httpx
import pytest
from lxml import html as lxml_html

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.links import CONFIRM, PREFERENCES, UNSUBSCRIBE, preferences_token, signer_for
from gbaletter.subscribers.models import Status
from gbaletter.subscribers.service import add_subscriber
from gbaletter.tokens import Signer
from gbaletter.web.app import create_app
from gbaletter.web.pages import page_language
from gbaletter.web.subscription import SignUp, request_sign_up
from support.smtp_server import free_port
from support.web_server import serving

DESK = ["en", "zh-Hant", "zh-Hans"]
ENGLISH_BROWSER = {"Accept-Language": "en-GB,en;q=0.9"}


@pytest.mark.parametrize("languages, stored, asked, accept, answer", [
    (DESK, "zh-Hant", "zh-Hans", "en", "zh-Hant"),   # the subscriber's language first
    (DESK, "zh-Hans", "", "zh-HK", "zh-Hans"),
    (DESK, None, "zh-CN", "zh-HK", "zh-Hans"),       # no known subscriber: ?lang= (any spelling)
    (DESK, None, "fr", "zh-HK", "zh-Hant"),          # ?lang= the desk does not write: the browser's
    (DESK, None, "", "", "en"),                      # nothing said: the desk's default
    (["en", "zh-Hant"], "zh-Hans", "", "en", "en"),  # a language the desk no longer writes: passed over
    (["en", "zh-Hant"], "zh-Hans", "zh-Hant", "en", "zh-Hant"),
])
def test_the_page_language_table(languages, stored, asked, accept, answer):
    assert page_language(languages, stored, asked, accept) == answer


def _trilingual(sample_workspace):  # type: ignore[no-untyped-def]
    config = sample_workspace / "gbaletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'languages = ["en"]', 'languages = ["en", "zh-Hant", "zh-Hans"]', 1), encoding="utf-8")
    return load_workspace(sample_workspace)


def _page(response: httpx.Response):  # type: ignore[no-untyped-def]
    return lxml_html.fromstring(response.text)


# per stored language: the root's lang, then the headings of the pages
EXPECTED = {
    "zh-Hant": {"lang": "zh-Hant-HK", "unsubscribe": "取消訂閱《GBA Weekly》？", "unsubscribed": "你已取消訂閱",
                "confirm": "確認訂閱《GBA Weekly》", "confirmed": "訂閱成功", "language": "語言",
                "saved": "已儲存你選擇的題材。"},
    "zh-Hans": {"lang": "zh-Hans", "unsubscribe": "退订《GBA Weekly》？", "unsubscribed": "您已退订",
                "confirm": "确认订阅《GBA Weekly》", "confirmed": "订阅成功", "language": "语言",
                "saved": "已保存你选择的主题。"},
}


@pytest.mark.parametrize("language", ["zh-Hant", "zh-Hans"])
def test_personal_pages_answer_in_the_stored_language_whatever_the_browser_asks(sample_workspace, mail_env,
                                                                                language):
    ws = _trilingual(sample_workspace)
    expected = EXPECTED[language]
    signer = signer_for(ws)
    db = open_database(ws)
    with db.session() as session:
        reader = add_subscriber(session, "chan.tai.man@example.com", tags=["policy"], language=language)
        preferences = f"/p/{preferences_token(signer, reader.id, reader.email)}"
        unsubscribe = f"/u/{signer.make(UNSUBSCRIBE, reader.id, '2019-W26')}"
        pending = request_sign_up(session, signer, SignUp("lam.ka.yee@example.com", "", (), language))
        assert pending is not None
        confirm = f"/confirm/{pending.token}"
    with serving(create_app(ws, db), free_port()) as url, httpx.Client(base_url=url,
                                                                        headers=ENGLISH_BROWSER) as http:
        def check(response: httpx.Response, heading: str, where: str = "string(//h1)") -> None:
            assert response.status_code == 200, response.text
            page = _page(response)
            assert (page.get("lang"), page.xpath(where)) == (expected["lang"], expected[heading])

        check(http.get(unsubscribe), "unsubscribe")
        # the links to the public pages keep the reader's language, not the browser's
        assert _page(http.get(unsubscribe)).xpath("//nav/a/@href") == [f"../subscribe?lang={language}",
                                                                        f"../archive?lang={language}"]
        check(http.get(unsubscribe, params={"lang": "en"}), "unsubscribe")
        check(http.post(unsubscribe, data={"unsubscribe": "yes"}), "unsubscribed")
        check(http.get(unsubscribe), "unsubscribed")  # opened again: the resubscribe offer

        check(http.get(confirm), "confirm")
        check(http.post(confirm), "confirmed")

        check(http.get(preferences), "language", "string(//h2[@id='language'])")
        check(http.post(preferences, data={"action": "topics", "topics": ["transport"]}), "saved",
              "string(//*[@class='notice'])")
        # the reader picks English: the page after the change, and every one after, is in English
        changed = _page(http.post(preferences, data={"action": "language", "language": "en"},
                                  headers={"Accept-Language": "zh-HK"}))
        assert (changed.get("lang"), changed.xpath("string(//h2[@id='language'])")) == ("en", "Language")
        assert _page(http.get(unsubscribe, headers={"Accept-Language": "zh-HK"})).get("lang") == "en"
    db.dispose()


def test_a_forged_token_neither_reveals_nor_uses_the_stored_language(sample_workspace, mail_env):
    """A token the list did not sign, naming a real subscriber stored in Simplified Chinese, gets the
    error page in the browser's language, the same as a token naming nobody."""
    ws = _trilingual(sample_workspace)
    forger = Signer(b"not the list's secret", ws.config.newsletter.list_id or ws.config.newsletter.name)
    db = open_database(ws)
    with db.session() as session:
        reader = add_subscriber(session, "zhang.wei@example.com", language="zh-Hans", status=Status.UNCONFIRMED)
        forged = {"unsubscribe": f"/u/{forger.make(UNSUBSCRIBE, reader.id, '2019-W26')}",
                  "preferences": f"/p/{forger.make(PREFERENCES, reader.id, 'tag')}",
                  "confirm": f"/confirm/{forger.make(CONFIRM, reader.id, '0')}"}
        nobody = {"unsubscribe": f"/u/{forger.make(UNSUBSCRIBE, 999_999, '2019-W26')}",
                  "preferences": f"/p/{forger.make(PREFERENCES, 999_999, 'tag')}",
                  "confirm": f"/confirm/{forger.make(CONFIRM, 999_999, '0')}"}
    with serving(create_app(ws, db), free_port()) as url, httpx.Client(base_url=url) as http:
        for name, path in forged.items():
            for method in ("GET", "POST"):
                for headers, lang in ((ENGLISH_BROWSER, "en"), ({"Accept-Language": "zh-HK"}, "zh-Hant-HK")):
                    answer = http.request(method, path, headers=headers, data={"unsubscribe": "yes"})
                    other = http.request(method, nobody[name], headers=headers, data={"unsubscribe": "yes"})
                    assert answer.status_code == 400, (name, method)
                    assert _page(answer).get("lang") == lang, (name, method)
                    assert answer.text == other.text.replace(nobody[name], path), (name, method)
    with db.reader() as session:  # and nothing was changed
        assert session.get(type(reader), reader.id).status is Status.UNCONFIRMED
    db.dispose()
