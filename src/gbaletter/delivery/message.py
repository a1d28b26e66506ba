"""The MIME message of an issue, prepared once per issue and filled in per subscriber.

Building an `EmailMessage` per recipient costs ~2.7 ms (see the measured facts), which would cap
a send at ~280 messages/s. Instead the whole message is laid out once: headers, MIME structure and
both bodies already quoted-printable encoded, cut at the subscriber placeholders. Filling in a
subscriber encodes only their few short values and joins bytes. Each value stands between two
quoted-printable soft line breaks, so the static parts are encoded exactly once and no line ever
exceeds the 76 characters that quoted-printable allows.
"""

from __future__ import annotations

import binascii
import html
import operator
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
# the characters for which formataddr quotes a name (its own pattern: `_to_header` writes the rest)
from email.utils import specialsre  # type: ignore[attr-defined]
from datetime import datetime, UTC

from .. import placeholders
from ..errors import GbaletterError

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"
CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
PER_SUBSCRIBER = frozenset({"name", "email", "unsubscribe_url", "preferences_url", "click_token"})
MAX_NAME = 100  # keeps the encoded To: header far below 998 characters
MAX_LINE = 78  # a header line's length (RFC 5322 2.1.1), where the header can be folded


@dataclass(frozen=True)
class Recipient:
    """What the message needs to know of one subscriber."""

    key: int            # the journal row id: makes the Message-ID unique and stable on retry
    subscriber_id: int
    email: str
    name: str
    language: str = ""  # the edition they read (subscribers.language); "" for the desk's default
    active: bool = True  # still active when claimed (leases.claim_batch); the claim's commit decides


def one_line(value: str) -> str:
    """A header-safe value: control characters (CR, LF, ...) become spaces. No header injection."""
    if not value.isprintable():  # every character CONTROL matches is unprintable: most values skip it
        value = CONTROL.sub(" ", value)
    return " ".join(value.split())


def dot_stuff(data: bytes) -> bytes:
    """SMTP transparency (RFC 5321 4.5.2): a line that starts with '.' gets another '.'."""
    data = data.replace(b"\r\n.", b"\r\n..")
    return b"." + data if data.startswith(b".") else data


# A value quoted-printable leaves as it is, but for soft line breaks: printable ASCII without '=',
# not ending in a space (b2a_qp encodes a space at the end of its input) or '.' (a '.' alone on
# a line is encoded). Most per-subscriber values are (the URLs, the token, most names).
_QP_AS_IS = re.compile(r"[ -<>-~]*[!-\-/-<>-~]")
# ... and that html.escape leaves as it is too (none of &<>"'): a value both bodies take as is
_PLAIN = re.compile(r"[ !#-%(-;?-~]*[!#-%(-\-/-;?-~]")
QP_LINE = 76  # quoted-printable's longest line (b2a_qp: 75 characters and '=' where it breaks one)


def _as_is(data: bytes, last_line: int = QP_LINE) -> bytes:
    """ASCII that quoted-printable leaves as it is, cut only where b2a_qp would break it: every
    75 characters, the last line taking up to 76 (tests/test_message.py compares the two), or
    `last_line` (75 before a soft break, whose '=' makes 76)."""
    if len(data) <= last_line:
        return data
    lines = []
    while len(data) > last_line:
        lines.append(data[:QP_LINE - 1])
        data = data[QP_LINE - 1:]
    lines.append(data)
    return SOFT_BREAK.join(lines)


def _qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends, soft breaks included (b2a_qp writes bare LF for
    those when its input has no CRLF, so the input is LF-only and LF becomes CRLF afterwards)."""
    if _QP_AS_IS.fullmatch(text):
        return _as_is(text.encode("ascii"))
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True).replace(b"\n", CRLF)


def _fit(encoded: bytes, last_line: int) -> bytes:
    """b2a_qp's output with every line at most 76 characters (RFC 2045 6.7), a soft break's '='
    included, and the last at most `last_line` (75 before a slot's soft break): b2a_qp writes 77
    or 78 where it encodes a space or tab at the end of a long line, and may end on 76. A line
    too long is cut with soft breaks, never inside an '=XX' escape."""
    lines = encoded.split(CRLF)
    if len(lines[-1]) <= last_line and all(len(line) <= QP_LINE for line in lines):
        return encoded
    fitted = []
    for index, line in enumerate(lines):
        soft = line.endswith(b"=")  # a soft break (an escape never ends in '=')
        text = line[:-1] if soft else line
        room = QP_LINE - 1 if soft else last_line if index == len(lines) - 1 else QP_LINE
        while len(text) > room:
            cut = QP_LINE - 1
            cut -= 1 if text[cut - 1:cut] == b"=" else 2 if text[cut - 2:cut - 1] == b"=" else 0
            fitted.append(text[:cut] + b"=")
            text = text[cut:]
        fitted.append(text + b"=" if soft else text)
    return CRLF.join(fitted)


def _slot(encoded: bytes, smtp: bool) -> bytes:
    """A subscriber's value as it stands in a body: encoded (its last line leaving room for the
    soft break's '='), between two soft line breaks. With `smtp` dot-stuffed, the slot as a
    whole: it starts a line, so its value's first line is too."""
    slot = SOFT_BREAK + encoded + SOFT_BREAK
    return slot.replace(b"\r\n.", b"\r\n..") if smtp else slot


def _slots(value: str, smtp: bool) -> tuple[bytes, bytes]:
    """A subscriber's value in the text body and in the HTML body: for most values (`_PLAIN`)
    the same slot, found by one search and made by one cut, without encoding or escaping."""
    if _PLAIN.fullmatch(value):
        slot = _slot(_as_is(value.encode("ascii"), QP_LINE - 1), smtp)
        return slot, slot
    text, escaped = _slot(_fit(_qp(value), QP_LINE - 1), smtp), html.escape(value)
    return text, (text if escaped == value else _slot(_fit(_qp(escaped), QP_LINE - 1), smtp))


class _Body:
    """One body (text or HTML) cut at its placeholders: static parts encoded once, slots after.

    Laid out as a list of static parts and places for the placeholders, taking turns (a static
    part between two placeholders may be empty), so that filling it in per subscriber is
    appending the list to the message's and one slice assignment: every other place from the
    second, each placeholder's slot picked out by one `itemgetter`."""

    def __init__(self, text: str):
        pieces = placeholders.PATTERN.split(text)  # static, name, static, ..., static
        # as a message: static parts, b"" for the slots; a static part before a slot ends
        # where the slot's soft break starts
        last = len(pieces) - 1
        self.layout = [b"" if index % 2 else _fit(_qp(piece), QP_LINE if index == last else QP_LINE - 1)
                       for index, piece in enumerate(pieces)]
        # the same, ready for the wire: every static part starts a line, so each is stuffed alone
        self.smtp_layout = [dot_stuff(part) for part in self.layout]
        order = pieces[1::2]  # the placeholder of each slot
        self.names = frozenset(order)
        self.pick: Callable[[dict[str, bytes]], Iterable[bytes]] = (
            operator.itemgetter(*order) if len(order) > 1 else lambda slots: [slots[name] for name in order])

    def fill(self, slots: dict[str, bytes], out: list[bytes], smtp: bool) -> None:
        """Append the body with `slots` (placeholder -> slot); each slot is made once, however
        often its placeholder occurs (the click token is in every tracked link)."""
        start = len(out)
        out += self.smtp_layout if smtp else self.layout
        out[start + 1::2] = self.pick(slots)


def _encode_header(name: str, value: str) -> bytes:
    value = one_line(value)
    if value.isascii():
        encoded = value
    else:
        encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}".encode("ascii") + CRLF


def _phrase_header(name: str, phrase: str, angle_addr: str, charset: str = "ascii") -> bytes:
    """`Name: phrase <addr>` with only the phrase encoded (RFC 2047 5(3)): an encoded word must
    never hold the address, or receivers (and DMARC) see a From without one. A long phrase is
    folded into encoded-words of whole characters, lines of at most 78 characters, the address
    on a line of its own when the last one has no room for it. `charset` "utf-8": the address may
    be internationalized (RFC 6532)."""
    phrase = one_line(phrase)
    if not phrase:
        return f"{name}: <{angle_addr}>".encode(charset) + CRLF
    if phrase.isascii() and angle_addr.isascii():
        return f"{name}: {formataddr((phrase, angle_addr))}".encode("ascii") + CRLF
    head = f"{name}: " + Header(phrase, "utf-8", header_name=name).encode(linesep="\r\n")
    last_line = len(head) - head.rfind("\n") - 1
    fold = " " if last_line + len(angle_addr) + 3 <= MAX_LINE else "\r\n "
    return f"{head}{fold}<{angle_addr}>".encode(charset) + CRLF


def _address_header(name: str, value: str) -> bytes:
    """A From or Reply-To header: display name encoded on its own, the address left as it is."""
    phrase, address = parseaddr(one_line(value))
    if not address:
        raise GbaletterError(f"{name} '{value}' is not an address")
    return _phrase_header(name, phrase, address)


def _to_header(name: str, address: str) -> bytes:
    """The To header: `Name <address>` on one line as formataddr writes it when that fits (most
    names; the cheap way), else the name folded (`_phrase_header`). RFC 6532: an
    internationalized address stands in the header as UTF-8."""
    if address.isascii():
        if name.isascii() and not specialsre.search(name):  # what formataddr writes for it, made here
            line = f"To: {name} <{address}>".encode("ascii") if name else b"To: " + address.encode("ascii")
        else:
            line = b"To: " + formataddr((name, address), charset="utf-8").encode("ascii")
        if len(line) <= MAX_LINE or name.isascii():
            return line + CRLF
    return _phrase_header("To", name, address, "utf-8")


def _address_domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


@dataclass
class IssueHeaders:
    sender: str
    subject: str
    list_name: str
    list_id: str
    reply_to: str = ""
    language: str = ""  # the Content-Language of the edition (html lang: zh-Hant-HK), "" for none


class PreparedIssue:
    """An issue ready to send: `render(recipient, unsubscribe_url)` gives the message bytes.

    `unsubscribe_mailto(subscriber_id)` gives the address of the List-Unsubscribe mailto (signed
    per subscriber: `links.MailAddresses.unsubscribe`), or None for no mailto;
    `preferences_url(subscriber_id, email)` the link to their preference page and
    `click_token(journal_row)` the token of their tracked links and `unsubscribe_url(subscriber_id)`
    their one-click link (`links.preferences_urls`, `links.delivery_tokens`,
    `links.unsubscribe_urls`: made once per issue).
    """

    def __init__(self, issue_id: str, headers: IssueHeaders, html_text: str, plain_text: str,
                 per_issue: dict[str, str], name_fallback: str,
                 unsubscribe_mailto: Callable[[int], str] | None,
                 dkim_signer=None, message_id_tag: str = "",
                 click_token: Callable[[int], str] | None = None,
                 preferences_url: Callable[[int, str], str] | None = None,
                 unsubscribe_url: Callable[[int], str] | None = None):
        if not parseaddr(headers.sender)[1]:
            raise GbaletterError(f"sender '{headers.sender}' is not an address")
        unfilled = set(placeholders.NAMES) - PER_SUBSCRIBER - set(per_issue)
        if unfilled:
            raise ValueError(f"no value for placeholders {sorted(unfilled)}")
        if click_token is None and placeholders.marker("click_token") in html_text + plain_text:
            raise ValueError("tracked links need a click_token function")
        # tracked links (`issue.links.track`): one signed token per recipient, shared by every link
        self.click_token = click_token or (lambda key: "")
        self.preferences_url = preferences_url or (lambda subscriber_id, email: "")
        self.unsubscribe_url = unsubscribe_url or (lambda subscriber_id: "")
        self.issue_id = issue_id
        # Message-IDs are <issue.row.tag@domain>: the same on a retry (so a receiving server can
        # drop a duplicate), different between installations that send the same issue id
        self.message_id_stem = f"{issue_id}." if not message_id_tag else f"{issue_id}.{message_id_tag}."
        self.domain = _address_domain(headers.sender)
        self.name_fallback = name_fallback
        self.unsubscribe_mailto = unsubscribe_mailto
        self.dkim_signer = dkim_signer
        # per-issue placeholders (view_url) are resolved now, once
        for name, value in per_issue.items():
            html_text = html_text.replace(placeholders.marker(name), html.escape(value))
            plain_text = plain_text.replace(placeholders.marker(name), value)
        boundary = f"==gb_{secrets.token_hex(10)}=="  # "==" cannot occur in quoted-printable
        static = [
            _address_header("From", headers.sender),
            *([_address_header("Reply-To", headers.reply_to)] if headers.reply_to else []),
            _encode_header("Subject", headers.subject),
            _encode_header("Date", format_datetime(datetime.now(UTC))),
            _phrase_header("List-Id", headers.list_name, one_line(headers.list_id)),
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            b"MIME-Version: 1.0\r\n",
            *([f"Content-Language: {one_line(headers.language)}\r\n".encode()] if headers.language else []),
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'.encode(),
        ]
        self.editions: dict[str, PreparedIssue] = {}  # language -> its edition (prepare.prepare_issue)
        self.static_headers = b"".join(static)
        part_head = ("--{b}\r\nContent-Type: text/{kind}; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: quoted-printable\r\n\r\n")
        self.text_head = CRLF + part_head.format(b=boundary, kind="plain").encode()
        self.html_head = CRLF + part_head.format(b=boundary, kind="html").encode()
        self.closing = f"\r\n--{boundary}--\r\n".encode()
        self.text = _Body(plain_text)
        self.html = _Body(html_text)
        self.filled = sorted(self.text.names | self.html.names)  # the placeholders of a recipient's values

    def edition(self, language: str) -> PreparedIssue:
        """The prepared edition in `language`; this one when the issue has no edition in it."""
        return self.editions.get(language, self)

    def message_id(self, recipient: Recipient) -> str:
        return f"<{self.message_id_stem}{recipient.key}@{self.domain}>"

    def render(self, recipient: Recipient, unsubscribe_url: str, smtp: bool = False) -> bytes:
        """The message; with `smtp`, as DATA sends it: dot-stuffed and ended by '.' alone."""
        return b"".join(self.render_parts(recipient, unsubscribe_url, smtp))

    def render_parts(self, recipient: Recipient, unsubscribe_url: str, smtp: bool = False) -> list[bytes]:
        """`render`'s message as the parts it is joined from: a send writes them to the socket as
        they are (one writev), without copying ~74 KB a message into one string first."""
        if smtp and self.dkim_signer is not None:
            return [dot_stuff(self.render(recipient, unsubscribe_url)), b".\r\n"]
        name = one_line(recipient.name)[:MAX_NAME]
        values = {"name": name or self.name_fallback, "email": recipient.email,
                  "unsubscribe_url": unsubscribe_url, "click_token": self.click_token(recipient.key),
                  "preferences_url": self.preferences_url(recipient.subscriber_id, recipient.email)}
        text: dict[str, bytes] = {}
        page: dict[str, bytes] = {}
        for key in self.filled:
            text[key], page[key] = _slots(values[key], smtp)
        mailto_address = self.unsubscribe_mailto(recipient.subscriber_id) if self.unsubscribe_mailto else ""
        mailto = f",\r\n <mailto:{mailto_address}?subject=unsubscribe>" if mailto_address else ""
        out = [
            _to_header(name, one_line(recipient.email)),
            f"Message-ID: {self.message_id(recipient)}\r\nList-Unsubscribe: <{unsubscribe_url}>{mailto}\r\n"
            .encode("ascii"),
            self.static_headers, self.text_head,
        ]
        self.text.fill(text, out, smtp)
        out.append(self.html_head)
        self.html.fill(page, out, smtp)
        out.append(self.closing)
        if smtp:
            out.append(b".\r\n")
        if self.dkim_signer is not None:
            message = b"".join(out)
            return [self.dkim_signer(message), message]
        return out
