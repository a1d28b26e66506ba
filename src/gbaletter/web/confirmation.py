"""The confirmation email of a sign-up (double opt-in): subject, text and HTML from templates.

One message per sign-up is not a hot path, so it is an ordinary `EmailMessage`, sent over its own
connection to the configured SMTP server (`[smtp]`, GBALETTER_SMTP_* overrides) like a test copy.
"""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from ..config import Workspace
from ..db import utcnow
from ..delivery.message import one_line
from ..delivery.prepare import envelope_sender
from ..delivery.smtp import send_one, smtp_target
from ..issue.render import template_environment
from ..links import confirm_url
from .subscription import CONFIRM_DAYS, PendingConfirmation

TEMPLATES = {"subject": "web/confirmation_subject.txt.j2", "text": "web/confirmation_email.txt.j2",
             "html": "web/confirmation_email.html.j2"}


def confirmation_message(ws: Workspace, pending: PendingConfirmation) -> EmailMessage:
    news = ws.config.newsletter
    env = template_environment(ws.templates_dir)
    context = {"newsletter": news, "name": pending.name or news.name_fallback, "email": pending.email,
               "interests": pending.interests, "confirm_url": confirm_url(ws, pending.token),
               "valid_days": CONFIRM_DAYS}
    parts = {key: env.get_template(name).render(context) for key, name in TEMPLATES.items()}
    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = one_line(parts["subject"])
    message["From"] = news.sender
    message["To"] = pending.email
    if news.reply_to:
        message["Reply-To"] = news.reply_to
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=parseaddr(news.sender)[1].rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(parts["text"])
    message.add_alternative(parts["html"], subtype="html")
    return message


async def send_confirmation(ws: Workspace, pending: PendingConfirmation) -> str:
    """Send the confirmation email; GbaletterError (one line) when the server cannot take it."""
    message = confirmation_message(ws, pending)
    return await send_one(smtp_target(ws.config.smtp), envelope_sender(ws), pending.email,
                           message.as_bytes())
