"""The subscriber pages of a desk with several languages, over real HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import httpx
from lxml import html as lxml_html

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.subscribers.service import find_subscriber
from gbaletter.web.app import create_app
from support.smtp_server import free_port
from support.web_server import serving, wait_for


def _trilingual(sample_workspace):  # type: ignore[no-untyped-def]
    config = sample_workspace / "gbaletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'languages = ["en"]', 'languages = ["en", "zh-Hant", "zh-Hans"]', 1), encoding="utf-8")
    return load_workspace(sample_workspace)


def test_the_form_offers_the_desks_languages_and_stores_the_choice(sample_workspace, mail_env):
    ws = _trilingual(sample_workspace)
    with serving(create_app(ws), free_port()) as url, httpx.Client(base_url=url) as http:
        form = lxml_html.fromstring(http.get("/subscribe", headers={"Accept-Language": "zh-HK,zh;q=0.9"}).text)
        assert form.xpath("//input[@name='language']/@value") == ["en", "zh-Hant", "zh-Hans"]
        assert form.xpath("//input[@name='language'][@checked]/@value") == ["zh-Hant"]
        assert form.xpath("//label[@lang='zh-Hans']/text()")[-1].strip() == "简体中文"
        english = lxml_html.fromstring(http.get("/subscribe").text)
        assert english.xpath("//input[@name='language'][@checked]/@value") == ["en"]

        refused = http.post("/subscribe", data={"email": "zhang.wei@example.com", "language": "fr"})
        assert refused.status_code == 400 and "Please choose one of the languages listed." in refused.text
        assert http.post("/subscribe", data={"email": "zhang.wei@example.com", "language": "zh-CN"}).status_code == 200
        assert http.post("/subscribe", data={"email": "ho.sally@example.com"}).status_code == 200
        wait_for(lambda: [r for r in mail_env.received if r.rcpt == "ho.sally@example.com"])
    db = open_database(ws)
    with db.reader() as session:
        assert find_subscriber(session, "zhang.wei@example.com").language == "zh-Hans"
        assert find_subscriber(session, "ho.sally@example.com").language == "en"
    db.dispose()


def test_a_one_language_desk_shows_no_choice(sample_workspace, mail_env):
    ws = load_workspace(sample_workspace)
    with serving(create_app(ws), free_port()) as url, httpx.Client(base_url=url) as http:
        assert not lxml_html.fromstring(http.get("/subscribe").text).xpath("//input[@name='language']")


def _confirm_path(message) -> str:  # type: ignore[no-untyped-def]
    link = lxml_html.fromstring(message.get_body(("html",)).get_content()).xpath("//a/@href")[0]
    return "/" + link.split("/newsletter/", 1)[1]


def test_the_confirmation_email_and_pages_answer_in_traditional_and_simplified(sample_workspace, mail_env):
    ws = _trilingual(sample_workspace)
    with serving(create_app(ws), free_port()) as url, httpx.Client(base_url=url) as http:
        sent = http.post("/subscribe", data={"email": "chan.tai.man@example.com", "name": "陳大文",
                                             "language": "zh-Hant", "interests": ["policy", "transport"]},
                         headers={"Accept-Language": "zh-HK"})
        assert "請查看收件匣" in sent.text
        message = wait_for(lambda: [r.message for r in mail_env.received])[0]
        assert message["Subject"] == "請確認訂閱《GBA Weekly》"
        assert message["Content-Language"] == "zh-Hant-HK"
        html = message.get_body(("html",)).get_content()
        assert '<html lang="zh-Hant-HK">' in html and "陳大文，你好：" in html
        assert "你關注的題材：policy、transport" in message.get_body(("plain",)).get_content()

        path = _confirm_path(message)
        for language, heading, button in (("zh-Hant", "確認訂閱《GBA Weekly》", "確認訂閱"),
                                          ("zh-Hans", "确认订阅《GBA Weekly》", "确认订阅"),
                                          ("zh-TW", "確認訂閱《GBA Weekly》", "確認訂閱")):
            page = lxml_html.fromstring(http.get(path, params={"lang": language}).text)
            assert page.get("lang") == {"zh-Hans": "zh-Hans"}.get(language, "zh-Hant-HK")
            assert (page.xpath("string(//h1)"), page.xpath("string(//button)")) == (heading, button)
        confirmed = http.post(path, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        assert "订阅成功" in confirmed.text

        db = open_database(ws)
        with db.reader() as session:
            subscriber_id = find_subscriber(session, "chan.tai.man@example.com").id
        db.dispose()
        from gbaletter.links import UNSUBSCRIBE, signer_for
        unsubscribe = f"/u/{signer_for(ws).make(UNSUBSCRIBE, subscriber_id, '2019-W26')}"
        for accept, heading, button in (("zh-HK,zh;q=0.9", "取消訂閱《GBA Weekly》？", "取消訂閱"),
                                        ("zh-CN", "退订《GBA Weekly》？", "退订"),
                                        ("en-GB", "Unsubscribe from GBA Weekly?", "Unsubscribe")):
            page = lxml_html.fromstring(http.get(unsubscribe, headers={"Accept-Language": accept}).text)
            assert (page.xpath("string(//h1)"), page.xpath("string(//button)")) == (heading, button)
        done = lxml_html.fromstring(http.post(unsubscribe, data={"unsubscribe": "yes"},
                                              headers={"Accept-Language": "zh-TW"}).text)
        assert done.xpath("string(//h1)") == "你已取消訂閱"
        expired = http.get("/u/forged-token", headers={"Accept-Language": "zh-CN"})
        assert expired.status_code == 400 and "这个链接无法使用" in expired.text
