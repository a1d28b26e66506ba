"""An issue made ready to send, once per issue: the checked build, the message, DKIM, the envelope.

Everything here is done once per issue, before the first recipient, but `message_parts` (and
`message_for`, its parts joined): the one place a recipient's message is chosen (the edition of
their language) and filled in with their few values, once per recipient (loop.py).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any
from email.utils import parseaddr

from ..config import Workspace
from ..errors import GbaletterError
from ..issue.recorded import (BuildFiles, edition_texts, read_build_files, recorded_errors,
                              recorded_name_fallback)
from ..languages import LANGUAGES
from ..links import MESSAGE_ID_TAG, MailAddresses, preferences_urls, unsubscribe_urls, view_url
from ..tokens import Signer
from . import tracked
from .message import IssueHeaders, PreparedIssue, Recipient

TEST_PREFIX = "[TEST] "


def dkim_signer(ws: Workspace):
    """A function giving a message's DKIM-Signature header (bytes to put in front of it), or None
    when [dkim] is not configured: the issues' and the web pages' emails are signed alike."""
    settings = ws.config.dkim
    if not (settings.domain and settings.selector):
        return None
    import dkim  # dkimpy; only needed when signing

    key = os.environ.get("GBALETTER_DKIM_KEY", "").encode()
    if not key and settings.key_file:
        try:
            key = (ws.root / settings.key_file).read_bytes()
        except OSError as exc:
            raise GbaletterError(f"[dkim] key_file {settings.key_file}: {exc.strerror}") from None
    if not key:
        raise GbaletterError("[dkim] is configured but there is no key: set GBALETTER_DKIM_KEY "
                             "or [dkim] key_file")
    headers = [b"from", b"to", b"subject", b"date", b"message-id", b"list-id",
               b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version", b"content-type"]
    selector, domain = settings.selector.encode(), settings.domain.encode()

    def sign(message: bytes) -> bytes:
        return dkim.sign(message, selector, domain, key, include_headers=headers)

    return sign


def prepare_issue(ws: Workspace, issue_id: str, signer: Signer, test: bool = False,
                  check: bool = False) -> PreparedIssue:
    """The issue's message, once; refuses an issue that is not built or built from old inputs,
    and with `check`, one whose static `issue check` finds errors (errors reach every inbox
    otherwise). The inputs are loaded and hashed once for all of it."""
    built = _current_build(ws, issue_id)
    if check:
        _refuse_on_check_errors(ws, built)
    editions = built.info.get("editions", {})
    prepared = _prepared(ws, built, built.info, "", signer, test)
    for language, edition in editions.items():  # once per edition, never per reader
        html, text = edition_texts(built, language)
        prepared.editions[language] = _prepared(ws, dataclasses.replace(built, html=html, text=text),
                                                edition, language, signer, test)
    return prepared


def _prepared(ws: Workspace, built: BuildFiles, recorded: dict[str, Any], language: str, signer: Signer,
              test: bool) -> PreparedIssue:
    """The message of one edition of the build (`language` "": the desk's one email), with its
    subject and greeting's fallback name as the build recorded them (`recorded`: build.json or
    one of its `editions`; a build older than the fallback's entry has the settings' word)."""
    subject = recorded["subject"]
    issue_id = built.issue_id
    tracked_bodies = tracked.bodies(ws, issue_id, signer, built, test=test)
    news = ws.config.newsletter
    sender_domain = parseaddr(news.sender)[1].rpartition("@")[2]
    return PreparedIssue(
        issue_id,
        IssueHeaders(sender=news.sender, subject=(TEST_PREFIX if test else "") + subject,
                     list_name=news.name, list_id=news.list_id or f"{issue_id}.{sender_domain}",
                     reply_to=news.reply_to, language=LANGUAGES[language].html_lang if language else ""),
        html_text=tracked_bodies.html,
        plain_text=tracked_bodies.text,
        per_issue={"view_url": view_url(ws, issue_id, language)},  # the edition's own archive page
        name_fallback=recorded_name_fallback(built.info, language, news.name_fallback),
        unsubscribe_mailto=MailAddresses(ws, signer).unsubscribe,
        dkim_signer=dkim_signer(ws),
        message_id_tag=signer.tag(MESSAGE_ID_TAG, issue_id),
        click_token=tracked_bodies.click_token,
        preferences_url=preferences_urls(ws, signer),
        unsubscribe_url=unsubscribe_urls(ws, signer, issue_id),
    )


def _current_build(ws: Workspace, issue_id: str) -> BuildFiles:
    """The build as its files and build.json say; the build stack is loaded only for a build
    that does not list its inputs (made by an older gbaletter) or when there is no build."""
    built = read_build_files(ws, issue_id)
    if built is None:
        from ..issue.built import build_state, read_build

        state = build_state(ws, issue_id)  # names a missing or broken manifest first
        if state.info is None:
            raise GbaletterError(f"issue {issue_id} is not built; run: gbaletter issue build {issue_id}")
        built = read_build(ws, issue_id, state)
    if not built.up_to_date:
        raise GbaletterError(f"the build of issue {issue_id} is older than its manifest, posts or "
                             f"templates; run: gbaletter issue build {issue_id}")
    return built


def _refuse_on_check_errors(ws: Workspace, built: BuildFiles) -> None:
    """The static check's errors as recorded with the build, or (none recorded for this build
    and these settings) as the checker finds them now."""
    issue_id = built.issue_id
    errors = recorded_errors(ws, built)
    if errors is None:
        from ..issue.built import read_build
        from ..issue.check import check_build

        report = check_build(ws, read_build(ws, issue_id), browser=False)
        errors = [(e.where, e.message) for e in report.errors]
    if errors:
        raise GbaletterError("\n".join(
            [f"issue {issue_id} has {len(errors)} check error(s); fix them (gbaletter issue check "
             f"{issue_id}) or pass --ignore-check:"] + [f"  {where}: {message}" for where, message in errors]))


def message_parts(prepared: PreparedIssue, recipient: Recipient, smtp: bool = False) -> list[bytes]:
    """A recipient's message, as the parts it is joined from: the one place it is chosen and
    filled in (a send, a dry run and a test copy all come here): the edition in the reader's
    language, prepared once per issue."""
    edition = prepared.edition(recipient.language)
    return edition.render_parts(recipient, prepared.unsubscribe_url(recipient.subscriber_id), smtp=smtp)


def message_for(prepared: PreparedIssue, recipient: Recipient, smtp: bool = False) -> bytes:
    """`message_parts` joined: the message as bytes."""
    return b"".join(message_parts(prepared, recipient, smtp))
