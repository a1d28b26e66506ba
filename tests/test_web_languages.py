"""The subscriber pages of a desk with several languages, over real HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import httpx
from lxml import html as lxml_html

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.links import UNSUBSCRIBE, preferences_token, signer_for
from gbaletter.subscribers.service import add_subscriber, find_subscriber
from gbaletter.web.app import create_app
from support.signups import lift_caps, post_sign_up
from support.smtp_server import free_port
from support.web_server import serving, wait_for


def _trilingual(sample_workspace):  # type: ignore[no-untyped-def]
    lift_caps(sample_workspace)
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
        asked = lxml_html.fromstring(http.get("/subscribe", params={"lang": "zh-CN"}).text)  # the archive's link
        assert asked.xpath("//input[@name='language'][@checked]/@value") == ["zh-Hans"]

        refused = post_sign_up(http, "zhang.wei@example.com", language="fr")
        assert refused.status_code == 400 and "Please choose one of the languages listed." in refused.text
        assert post_sign_up(http, "zhang.wei@example.com", language="zh-CN").status_code == 200
        assert post_sign_up(http, "ho.sally@example.com").status_code == 200
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
        http.headers["Accept-Language"] = "zh-HK"
        sent = post_sign_up(http, "chan.tai.man@example.com", "陳大文", ("policy", "transport"),
                            language="zh-Hant")
        del http.headers["Accept-Language"]
        assert "請查看收件匣" in sent.text
        message = wait_for(lambda: [r.message for r in mail_env.received])[0]
        assert message["Subject"] == "請確認訂閱《GBA Weekly》"
        assert message["Content-Language"] == "zh-Hant-HK"
        html = message.get_body(("html",)).get_content()
        assert '<html lang="zh-Hant-HK">' in html and "你好：" in html
        # nothing the visitor typed is mailed to an address they may not own (docs/security.md)
        text = message.get_body(("plain",)).get_content()
        assert "陳大文" not in html + text and "policy" not in html + text

        path = _confirm_path(message)
        # the link names a subscriber who chose Traditional: that wins over ?lang= and the browser
        for asked in ({"lang": "zh-Hans"}, {"lang": "en"}, {}):
            page = lxml_html.fromstring(http.get(path, params=asked, headers={"Accept-Language": "en-GB"}).text)
            assert page.get("lang") == "zh-Hant-HK"
            assert (page.xpath("string(//h1)"), page.xpath("string(//button)")) == ("確認訂閱《GBA Weekly》",
                                                                                    "確認訂閱")
        confirmed = http.post(path, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        assert "訂閱成功" in confirmed.text

        db = open_database(ws)
        with db.reader() as session:
            subscriber_id = find_subscriber(session, "chan.tai.man@example.com").id
        db.dispose()
        unsubscribe = f"/u/{signer_for(ws).make(UNSUBSCRIBE, subscriber_id, '2019-W26')}"
        for accept in ("zh-HK,zh;q=0.9", "zh-CN", "en-GB"):
            page = lxml_html.fromstring(http.get(unsubscribe, headers={"Accept-Language": accept}).text)
            assert (page.xpath("string(//h1)"), page.xpath("string(//button)")) == ("取消訂閱《GBA Weekly》？",
                                                                                    "取消訂閱")
        done = lxml_html.fromstring(http.post(unsubscribe, data={"unsubscribe": "yes"},
                                              headers={"Accept-Language": "en"}).text)
        assert done.xpath("string(//h1)") == "你已取消訂閱"
        expired = http.get("/u/forged-token", headers={"Accept-Language": "zh-CN"})
        assert expired.status_code == 400 and "这个链接无法使用" in expired.text


def test_the_preference_page_changes_the_edition_and_records_it(sample_workspace, mail_env):
    ws = _trilingual(sample_workspace)
    db = open_database(ws)
    with db.session() as session:
        reader = add_subscriber(session, "lam.ka.yan@example.com", tags=["policy"], language="en")
        path = f"/p/{preferences_token(signer_for(ws), reader.id, reader.email)}"
    with serving(create_app(ws, db), free_port()) as url, httpx.Client(base_url=url) as http:
        page = lxml_html.fromstring(http.get(path, headers={"Accept-Language": "zh-HK"}).text)
        assert page.xpath("//input[@name='language']/@value") == ["en", "zh-Hant", "zh-Hans"]
        assert page.xpath("//input[@name='language'][@checked]/@value") == ["en"]
        assert page.xpath("string(//h2[@id='language'])") == "Language"  # theirs, not the browser's

        refused = http.post(path, data={"action": "language", "language": "fr"})
        assert refused.status_code == 400 and "Please choose one of the languages listed." in refused.text
        saved = http.post(path, data={"action": "language", "language": "zh-HK"},
                          headers={"Accept-Language": "en"})
        assert saved.status_code == 200 and "已儲存你選擇的語言" in saved.text  # the page after: the new one
        shown = lxml_html.fromstring(saved.text)
        assert shown.get("lang") == "zh-Hant-HK" and shown.xpath("string(//h2[@id='language'])") == "語言"
        assert shown.xpath("//input[@name='language'][@checked]/@value") == ["zh-Hant"]
    with db.reader() as session:
        stored = find_subscriber(session, "lam.ka.yan@example.com")
        assert stored.language == "zh-Hant"
        assert [e.reason for e in stored.events][-1] == "language en -> zh-Hant: chosen on the preference page"
    db.dispose()


def test_a_one_language_desk_offers_no_edition_on_the_preference_page(sample_workspace, mail_env):
    ws = load_workspace(sample_workspace)
    db = open_database(ws)
    with db.session() as session:
        reader = add_subscriber(session, "lam.ka.yan@example.com")
        path = f"/p/{preferences_token(signer_for(ws), reader.id, reader.email)}"
    with serving(create_app(ws, db), free_port()) as url, httpx.Client(base_url=url) as http:
        assert not lxml_html.fromstring(http.get(path).text).xpath("//input[@name='language']")
        refused = http.post(path, data={"action": "language", "language": "zh-Hant"})
        assert refused.status_code == 400
    db.dispose()


def _topics(box_labels) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(label.xpath("string(input/@value)"), label.text_content().strip()) for label in box_labels]


def test_the_topics_are_named_in_the_page_language_on_the_form_the_preference_page_and_the_welcome(
        sample_workspace, mail_env):
    config = sample_workspace / "gbaletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        '[newsletter]\n', '[newsletter]\nwelcome_email = true\n', 1).replace(
        'finance = "Finance and markets"',
        'finance = { en = "Finance and markets", zh-HK = "財經", zh-CN = "财经" }'),
        encoding="utf-8")
    ws = _trilingual(sample_workspace)
    db = open_database(ws)
    with db.session() as session:
        reader = add_subscriber(session, "chan.tai.man@example.com", tags=["finance", "vip"], language="zh-Hans")
        path = f"/p/{preferences_token(signer_for(ws), reader.id, reader.email)}"
    with serving(create_app(ws, db), free_port()) as url, httpx.Client(base_url=url) as http:
        for accept, finance in (("en", "Finance and markets"), ("zh-HK", "財經"), ("zh-CN", "财经")):
            form = lxml_html.fromstring(http.get("/subscribe", headers={"Accept-Language": accept}).text)
            boxes = form.xpath("//fieldset[.//input[@name='interests']]/label")
            # a name given once serves every language; all ticked until the reader unticks one
            assert _topics(boxes) == [("technology", "Technology"), ("finance", finance), ("policy", "Policy"),
                                      ("transport", "Transport")], accept
            assert form.xpath("//input[@name='interests'][@checked]/@value") == [
                "technology", "finance", "policy", "transport"]
        page = lxml_html.fromstring(http.get(path, headers={"Accept-Language": "en"}).text)  # theirs: zh-Hans
        assert ("finance", "财经") in _topics(page.xpath("//fieldset[.//input[@name='topics']]/label"))
        assert page.xpath("//input[@name='topics'][@checked]/@value") == ["finance"]

        post_sign_up(http, "zhang.wei@example.com", "", ("finance", "5g"), language="zh-Hant")
        confirm = _confirm_path(wait_for(lambda: [r.message for r in mail_env.received])[0])
        http.post(confirm)
        welcome = wait_for(lambda: [r.message for r in mail_env.received][1:])[0]
    assert "你關注的題材：財經" in welcome.get_body(("plain",)).get_content()  # 5g is no topic: not stored
    with db.reader() as session:
        assert find_subscriber(session, "zhang.wei@example.com").tag_names == ["finance"]
    db.dispose()
