"""Every public URL gbaletter writes, and the signed tokens in them, decided in one place.

`base_url` (`[newsletter] base_url`, e.g. `https://gba.example.org/newsletter`) is joined here and
nowhere else, so a page served under a path prefix and the links in the messages always agree.
Each purpose has its own one-letter tag inside the token, so a token made for one kind of link
is worthless on another page.

The addresses a mailbox can answer to are decided here too: with VERP (`[bounces] verp`, on by
default) each message's envelope sender is `bounces+<token>@<domain>`, the token naming its journal
row, so a bounce names the delivery exactly whatever the relay; the List-Unsubscribe mailto is
`unsubscribe+<token>@<domain>`, the token naming the subscriber. Address tokens are
`tokens.Signer.address_token`s: short, signed and unharmed by MTAs that lower-case local parts.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from . import placeholders
from .config import Workspace
from .tokens import BadToken, Signer, secret_from_env

# token purposes: one letter each, part of the signed payload
UNSUBSCRIBE = "u"   # one-click unsubscribe (List-Unsubscribe URL and the footer link)
CONFIRM = "c"       # double opt-in confirmation
RESUBSCRIBE = "r"   # undo an unsubscribe from the page that confirmed it
BOUNCE = "b"        # VERP: the envelope sender names the journal row (Delivery.id)
MAIL_UNSUBSCRIBE = "m"  # the List-Unsubscribe mailto names the subscriber
PREFERENCES = "p"   # the reader's own page: the subscriber, bound to their current address
CHANGE_ADDRESS = "a"  # the link sent to a new address to confirm the move there

BOUNCES_LOCAL = "bounces"
UNSUBSCRIBE_LOCAL = "unsubscribe"

# the issue field of the unsubscribe link in the welcome email, which belongs to no issue
WELCOME_ISSUE = "welcome"


def signer_for(ws: Workspace) -> Signer:
    """The signer of this list: keyed by GBALETTER_SECRET and the list id."""
    return Signer(secret_from_env(), ws.config.newsletter.list_id or ws.config.newsletter.name)


def public_url(ws: Workspace, path: str) -> str:
    """`path` (starting with '/') under the workspace's `base_url`."""
    return ws.config.newsletter.base_url.rstrip("/") + path


def base_path(ws: Workspace) -> str:
    """The path of `base_url` without its last '/' ("/newsletter"), "" when it is the host's root:
    where `gbaletter serve` answers besides the root (for proxies that pass the path on)."""
    return urlsplit(ws.config.newsletter.base_url).path.rstrip("/")


def origin(scheme: str, netloc: str) -> str:
    """"https://gba.example.org": where a request was sent, or where base_url points."""
    return f"{scheme}://{netloc}".lower()


def public_origin(ws: Workspace) -> str:
    """The origin of `base_url`: what a request that came through the public address, with the
    proxy's forwarded headers believed, says it was sent to."""
    parts = urlsplit(ws.config.newsletter.base_url)
    return origin(parts.scheme, parts.netloc)


def unsubscribe_url(ws: Workspace, signer: Signer, subscriber_id: int, issue_id: str) -> str:
    return unsubscribe_urls(ws, signer, issue_id)(subscriber_id)


def unsubscribe_urls(ws: Workspace, signer: Signer, issue_id: str) -> Callable[[int], str]:
    """`unsubscribe_url` of an issue as a function of the subscriber, the base URL and the
    token's layout worked out once (`Signer.maker`): a send makes one a message (issue 21)."""
    base, token = public_url(ws, "/u/"), signer.maker(UNSUBSCRIBE, issue_id)

    def url(subscriber_id: int) -> str:
        return base + token(subscriber_id)

    return url


def preferences_token(signer: Signer, subscriber_id: int, email: str) -> str:
    """The token of a subscriber's preference page. It carries a tag of their address (not the
    address), so the links in mail to an address stop working once the subscriber moved away."""
    return signer.make(PREFERENCES, subscriber_id, address_tag(signer, email))


def address_tag(signer: Signer, email: str) -> str:
    return signer.tag("address", email.lower())


def preferences_url(ws: Workspace, signer: Signer, subscriber_id: int, email: str) -> str:
    return preferences_urls(ws, signer)(subscriber_id, email)


def preferences_urls(ws: Workspace, signer: Signer) -> Callable[[int, str], str]:
    """`preferences_url` as a function of the subscriber and their address, the base URL and the
    token's layout worked out once (`Signer.maker`): a send makes one a message (issue 21)."""
    base, token = public_url(ws, "/p/"), signer.maker(PREFERENCES, fields=2)

    def url(subscriber_id: int, email: str) -> str:
        return base + token(subscriber_id, address_tag(signer, email))

    return url


def change_address_url(ws: Workspace, token: str) -> str:
    return public_url(ws, f"/address/{token}")


def edition_path(ws: Workspace, language: str) -> str:
    """How an edition is named after an archive address: "" for the desk's default language (or
    "", a desk's one email), "/zh-Hant" for another (docs/editions.md, "The archive")."""
    return "" if language in ("", ws.config.newsletter.language) else f"/{language}"


def language_query(ws: Workspace, language: str) -> str:
    """"?lang=zh-Hant" for a language other than the default, for the pages that take `?lang=`."""
    return f"?lang={language}" if edition_path(ws, language) else ""


def view_url(ws: Workspace, issue_id: str, language: str = "") -> str:
    """The archive page of the issue's edition in `language` (the default edition: "")."""
    return public_url(ws, f"/archive/{issue_id}{edition_path(ws, language)}")


def confirm_url(ws: Workspace, token: str) -> str:
    return public_url(ws, f"/confirm/{token}")


def subscribe_url(ws: Workspace, language: str = "") -> str:
    """The subscribe form, in `language` when it is not the default."""
    return public_url(ws, "/subscribe" + language_query(ws, language))


def _domain(address: str) -> str:
    from email.utils import parseaddr  # here: the email package is ~4 ms a build does not need

    return parseaddr(address)[1].rpartition("@")[2]


def plain_envelope_sender(ws: Workspace) -> str:
    """`[smtp] envelope_sender`, or the From address: the return path without VERP."""
    from email.utils import parseaddr

    return ws.config.smtp.envelope_sender or parseaddr(ws.config.newsletter.sender)[1]


class MailAddresses:
    """The return path and the mailto unsubscribe address of each message: the domain and the
    settings are read once per issue, so per recipient only the token is signed."""

    def __init__(self, ws: Workspace, signer: Signer):
        self.signer = signer
        self.plain = plain_envelope_sender(ws)
        self.domain = _domain(self.plain) or _domain(ws.config.newsletter.sender)
        self.verp = ws.config.bounces.verp and bool(self.domain)

    def bounce(self, delivery_id: int) -> str:
        """The envelope sender of the message of journal row `delivery_id`."""
        if not (self.verp and delivery_id):
            return self.plain
        return f"{BOUNCES_LOCAL}+{self.signer.address_token(BOUNCE, delivery_id)}@{self.domain}"

    def unsubscribe(self, subscriber_id: int) -> str:
        """The List-Unsubscribe mailto address of a subscriber ('' without a domain)."""
        if not self.domain:
            return ""
        if not subscriber_id:  # a test copy to someone not on the list
            return f"{UNSUBSCRIBE_LOCAL}@{self.domain}"
        token = self.signer.address_token(MAIL_UNSUBSCRIBE, subscriber_id)
        return f"{UNSUBSCRIBE_LOCAL}+{token}@{self.domain}"


def bounce_address(ws: Workspace, signer: Signer, delivery_id: int) -> str:
    return MailAddresses(ws, signer).bounce(delivery_id)


def _read_tagged(signer: Signer, address: str, local: str, purpose: str) -> int | None:
    mailbox = address.strip()
    if "<" in mailbox or " " in mailbox:  # a header value rather than a bare address
        from email.utils import parseaddr

        mailbox = parseaddr(mailbox)[1]
    local_part = mailbox.rpartition("@")[0].lower()
    if not local_part.startswith(local + "+"):
        return None
    return signer.read_address_token(local_part[len(local) + 1:], purpose)


def read_verp(signer: Signer, address: str) -> int | None:
    """The journal row a `bounces+<token>@...` address names; None for any other address.
    A forged or mangled token raises `tokens.BadToken`."""
    return _read_tagged(signer, address, BOUNCES_LOCAL, BOUNCE)


def read_unsubscribe_address(signer: Signer, address: str) -> int | None:
    """The subscriber an `unsubscribe+<token>@...` address names; None for any other address.
    A forged or mangled token raises `tokens.BadToken`."""
    return _read_tagged(signer, address, UNSUBSCRIBE_LOCAL, MAIL_UNSUBSCRIBE)


MESSAGE_ID_TAG = "message-id"  # what delivery.prepare.prepare_issue signs into every Message-ID
TAG_LENGTH = 10                # of tokens.Signer.tag


def read_message_id(signer: Signer, message_id: str) -> tuple[str, int] | None:
    """(issue id, journal row) of one of our Message-IDs, `<ISSUE.TAG.ROW@domain>`; None for a
    Message-ID of any other shape (another list's `<20261210.timetable.4411@...>` included: our
    tag is always TAG_LENGTH characters). A wrong tag of our shape (forged, or another
    installation's) raises BadToken."""
    local = message_id.strip().strip("<>").rpartition("@")[0]
    parts = local.rsplit(".", 2)
    if len(parts) != 3 or not parts[2].isdigit() or not parts[0] or len(parts[1]) != TAG_LENGTH:
        return None
    issue_id, tag, row = parts
    if not hmac.compare_digest(tag, signer.tag(MESSAGE_ID_TAG, issue_id)):
        raise BadToken(f"Message-ID {message_id[:80]} is not signed by this list")
    return issue_id, int(row)
def archive_url(ws: Workspace, language: str = "") -> str:
    """The list of past issues, in `language` when it is not the default."""
    return public_url(ws, "/archive" + language_query(ws, language))


ARCHIVE_FEED_PATH = "/archive/feed.xml"


def archive_feed_url(ws: Workspace, language: str = "") -> str:
    """The Atom feed of past issues, of the edition in `language` when it is not the default."""
    return public_url(ws, ARCHIVE_FEED_PATH + language_query(ws, language))


IMAGES_PATH = "/images"


def image_url(ws: Workspace, name: str) -> str:
    """Where a build's resized image `name` is read from: `[images] base_url` when the images
    are published to a static host, else `serve` under base_url."""
    static = ws.config.images.base_url
    return f"{static.rstrip('/')}/{name}" if static else public_url(ws, f"{IMAGES_PATH}/{name}")


# -- tracking: which links are counted, and the URLs that count them ---------------------------

DELIVERY = "d"  # one message's clicks and opens: (journal row id, issue id), the same in every link
CLICK_PATH, OPEN_PATH = "/c", "/o"
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f]")


def delivery_tokens(signer: Signer, issue_id: str) -> Callable[[int], str]:
    """The token of each delivery (journal row) of an issue: one per message, shared by all its
    links; its layout worked out once (`Signer.maker`): a send makes one a message (issue 21)."""
    return signer.maker(DELIVERY, issue_id)


def click_url(ws: Workspace, token: str, link_id: str) -> str:
    """Where a tracked link points: the server counts the click and redirects to the link's URL."""
    return public_url(ws, f"{CLICK_PATH}/{token}/{link_id}")


def open_url(ws: Workspace, token: str) -> str:
    """The 1x1 image of `[tracking] opens = true`."""
    return public_url(ws, f"{OPEN_PATH}/{token}")


def is_tracked(ws: Workspace, url: str) -> bool:
    """Is a click on `url` counted? Only web links to content: never a placeholder (unsubscribe,
    view in browser), a mailto:, or a page of the list itself under `base_url` (archive,
    subscribe): clicks on list management say nothing about what readers read, and an
    unsubscribe link must keep working without a redirect."""
    if (placeholders.PATTERN.search(url) or _CONTROL_OR_SPACE.search(url)
            or not url.lower().startswith(("https://", "http://"))):
        return False
    base = ws.config.newsletter.base_url.rstrip("/")
    return not (url == base or url.startswith(base + "/"))
