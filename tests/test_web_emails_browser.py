"""The emails the pages send (the confirmation of a sign-up, the welcome, the link that moves a
subscription to a new address and the notice to the old one), as a mail app that draws HTML with
Chromium would show them: in English, Traditional and Simplified Chinese; light and dark (as Apple
Mail and iOS Mail turn dark, by prefers-color-scheme, and as Outlook.com does, by marking what it
recolours with data-ogsc / data-ogsb); on a phone and a desk. The same checks as the pages'
(support.page_checks): 4.5:1 contrast, light text on a dark ground in the dark schemes, nothing
wider than the screen, the color-scheme meta that lets the app know the email has its own dark
design.
"""

from __future__ import annotations

import shutil
from email.message import EmailMessage
from itertools import product

import pytest

from gbaletter.config import load_workspace
from gbaletter.issue.browser import chromium
from gbaletter.links import signer_for
from gbaletter.web import emails
from gbaletter.web.preferences import AddressChange
from gbaletter.web.subscription import NewSubscriber, PendingConfirmation
from support.page_checks import problems
from support.workspace import DATA

PHONE, DESK = 375, 800
TOPICS = """
[topics]
transport = { en = "Transport", zh-Hant = "交通", zh-Hans = "交通" }
finance = { en = "Finance and markets", zh-Hant = "財經", zh-Hans = "财经" }
"""
# Outlook.com's dark mode: it marks the elements it recolours; the email's own rules under those
# attributes then take over (the page itself stays in the light scheme).
OUTLOOK_DARK_JS = """() => {
  for (const element of [document.documentElement, document.body]) {
    element.setAttribute('data-ogsc', ''); element.setAttribute('data-ogsb', '');
  }
}"""


def _html(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return part.get_content()


@pytest.fixture
def sent_emails(tmp_path, mail_env) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    """Each email's HTML, by language then name, from the trilingual desk with a postal address
    and named topics."""
    desk = tmp_path / "desk"
    shutil.copytree(DATA / "editions", desk)
    (desk / "gbaletter.toml").write_text((desk / "gbaletter.toml").read_text() + TOPICS)
    ws = load_workspace(desk)
    signer = signer_for(ws)
    return {language: {
        "confirmation": _html(emails.confirmation_message(
            ws, PendingConfirmation("new@example.com", "confirm-token", language))),
        "welcome": _html(emails.welcome_message(
            ws, signer, NewSubscriber(7, "new@example.com", ("transport", "finance"), language))),
        "address change": _html(emails.address_change_message(
            ws, AddressChange("moved@example.com", "change-token", language))),
        "address notice": _html(emails.address_notice_message(ws, "old@example.com", language)),
    } for language in ("en", "zh-Hant", "zh-Hans")}


def test_the_emails_carry_their_own_dark_design_and_the_desks_address(sent_emails):
    for language, by_name in sent_emails.items():
        for name, html in by_name.items():
            assert '<meta name="color-scheme" content="light dark">' in html, (language, name)
            assert "@media (prefers-color-scheme: dark)" in html and "[data-ogsc] .tx-ground" in html
            assert "25 Harbour Road" in html, (language, name)
            # the light colours are inline and real (a macro's name once hid the muted one)
            assert 'class="tx-muted" style="color: #57606a;' in html and "Macro" not in html, (language, name)
    assert "財經" in sent_emails["zh-Hant"]["welcome"] and "财经" in sent_emails["zh-Hans"]["welcome"]


@pytest.mark.usefixtures("chromium")
def test_every_email_reads_in_light_and_both_darks_on_a_phone_and_a_desk(sent_emails):
    found: list[str] = []
    with chromium() as browser:
        for scheme, width in product(("light", "dark", "outlook.com dark"), (PHONE, DESK)):
            context = browser.new_context(viewport={"width": width, "height": 800},
                                          color_scheme="dark" if scheme == "dark" else "light")
            page = context.new_page()
            for (language, by_name) in sent_emails.items():
                for name, html in by_name.items():
                    page.set_content(html)
                    if scheme == "outlook.com dark":
                        page.evaluate(OUTLOOK_DARK_JS)
                    found += problems(page, f"{name} {language} {scheme} {width}px", width,
                                      "light" if scheme == "light" else "dark")
            context.close()
    assert found == [], "\n".join(found)
