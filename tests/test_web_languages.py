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
