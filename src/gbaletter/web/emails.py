"""The emails the pages send: the confirmation of a sign-up (double opt-in) and, when
`[newsletter] welcome_email` is on, a welcome once it is confirmed. Subject, text and HTML of each
come from templates (`templates/web/`, the workspace's first).

One message per sign-up is not a hot path, so each is an ordinary `EmailMessage`, sent over its own
connection to the configured SMTP server (`[smtp]`, GBALETTER_SMTP_* overrides) like a test copy,
and DKIM-signed like the issues when `[dkim]` is set (`delivery.prepare.dkim_signer`). Neither
email repeats anything typed into the form: its address was typed by whoever filled it in.
"""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from ..config import Workspace
from ..db import utcnow
from ..delivery.message import one_line
from ..delivery.prepare import dkim_signer
from ..delivery.smtp import send_one, smtp_target
from ..issue.templates import template_environment
from ..languages import LANGUAGES
from ..links import (WELCOME_ISSUE, archive_url, change_address_url, confirm_url, plain_envelope_sender,
                     preferences_url, unsubscribe_url)
from ..tokens import Signer
from .preferences import CHANGE_ADDRESS_DAYS, AddressChange
from .subscription import CONFIRM_DAYS, NewSubscriber, PendingConfirmation

CONFIRMATION = {"subject": "web/confirmation_subject.txt.j2", "text": "web/confirmation_email.txt.j2",
                "html": "web/confirmation_email.html.j2"}
ADDRESS_CHANGE = {"subject": "web/address_change_subject.txt.j2",
                  "text": "web/address_change_email.txt.j2", "html": "web/address_change_email.html.j2"}
ADDRESS_NOTICE = {"subject": "web/address_notice_subject.txt.j2",
                  "text": "web/address_notice_email.txt.j2", "html": "web/address_notice_email.html.j2"}
WELCOME = {"subject": "web/welcome_subject.txt.j2", "text": "web/welcome_email.txt.j2",
           "html": "web/welcome_email.html.j2"}


def _message(ws: Workspace, to: str, templates: dict[str, str], context: dict[str, object],
             language: str) -> EmailMessage:
    news = ws.config.newsletter
    env = template_environment(ws.templates_dir, language, ws.cache_dir)
    parts = {key: env.get_template(name).render(newsletter=news, **context)
             for key, name in templates.items()}
    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = one_line(parts["subject"])
    message["From"] = news.sender
    message["To"] = to
    if news.reply_to:
        message["Reply-To"] = news.reply_to
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=parseaddr(news.sender)[1].rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(parts["text"])
    message.add_alternative(parts["html"], subtype="html")
    message["Content-Language"] = LANGUAGES[language].html_lang  # (set_content drops Content-*)
    return message


async def _send(ws: Workspace, to: str, message: EmailMessage) -> str:
    """Send one message, DKIM-signed when configured; GbaletterError (one line) when the server
    cannot take it or the DKIM key is missing."""
    data = message.as_bytes()
    sign = dkim_signer(ws)
    if sign is not None:
        data = sign(data) + data
    return await send_one(smtp_target(ws.config.smtp), plain_envelope_sender(ws), to, data)


def confirmation_message(ws: Workspace, pending: PendingConfirmation) -> EmailMessage:
    return _message(ws, pending.email, CONFIRMATION, {
        "confirm_url": confirm_url(ws, pending.token), "valid_days": CONFIRM_DAYS}, pending.language)


async def send_confirmation(ws: Workspace, pending: PendingConfirmation) -> str:
    return await _send(ws, pending.email, confirmation_message(ws, pending))


def welcome_message(ws: Workspace, signer: Signer, subscriber: NewSubscriber) -> EmailMessage:
    """The welcome: what the person signed up for (their topics, named in their language), the
    past issues, and, as in every issue, a one-click unsubscribe link (RFC 8058) in the headers
    and at the bottom."""
    unsubscribe = unsubscribe_url(ws, signer, subscriber.id, WELCOME_ISSUE)
    topics = ws.config.topic_names(subscriber.language)
    message = _message(ws, subscriber.email, WELCOME, {
        "interests": [topics[tag] for tag in subscriber.interests if tag in topics], "archive_url": archive_url(ws),
        "preferences_url": preferences_url(ws, signer, subscriber.id, subscriber.email),
        "unsubscribe_url": unsubscribe}, subscriber.language)
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


async def send_welcome(ws: Workspace, signer: Signer, subscriber: NewSubscriber) -> str:
    return await _send(ws, subscriber.email, welcome_message(ws, signer, subscriber))


def address_change_message(ws: Workspace, change: AddressChange) -> EmailMessage:
    """The link that moves a subscription to a new address, for that address."""
    return _message(ws, change.new_email, ADDRESS_CHANGE, {
        "change_url": change_address_url(ws, change.token), "valid_days": CHANGE_ADDRESS_DAYS},
        change.language)


async def send_address_change(ws: Workspace, change: AddressChange) -> str:
    return await _send(ws, change.new_email, address_change_message(ws, change))


def address_notice_message(ws: Workspace, old_email: str, language: str) -> EmailMessage:
    """Tells the old address that the subscription moved away (naming neither address), in the
    subscriber's language."""
    return _message(ws, old_email, ADDRESS_NOTICE, {}, language)


async def send_address_changed_notice(ws: Workspace, old_email: str, language: str) -> str:
    return await _send(ws, old_email, address_notice_message(ws, old_email, language))
