"""The link table of a build (`build/links.json`) and the send-time rewrite of tracked links.

Every tracked link (see `gbaletter.links.is_tracked`) gets an id that names where it is and where
it goes: a short hash of (section, story, URL). The same URL in the same story keeps its id across
rebuilds, so clicks stay comparable; a story's title, image and button share one id (they are the
same link). A URL is attributed to the first story that links to it, in the email's order
(featured, more, briefs); links the templates or the intro add are `intro` or `other`.

The rewrite is done once per issue: each tracked URL becomes `<base_url>/c/{{click_token}}/<id>`,
so a send fills in one signed token per recipient and nothing else.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import placeholders
from ..config import Workspace
from ..errors import GbaletterError
from ..links import DELIVERY, click_url, is_tracked, open_url
from ..tokens import Signer

LINKS_FILE = "links.json"
SECTIONS = ("featured", "more", "briefs", "intro", "other")  # the report's order
_HREF = re.compile(r'(<a\b[^>]*?\bhref=")([^"]*)(")', re.I)
_TEXT_URL = re.compile(r"https?://[^\s<>\"]+")


@dataclass(frozen=True)
class Link:
    id: str
    url: str
    section: str  # one of SECTIONS
    story: str    # the post slug or brief id; "" for intro and other
    title: str    # the story's title or brief lead, for the report


def link_id(section: str, story: str, url: str) -> str:
    """Stable: the same URL in the same story of the same section always gets the same id."""
    return hashlib.sha256(f"{section}\n{story}\n{url}".encode()).hexdigest()[:10]


def _html_links(text: str) -> list[str]:
    if not text.strip():
        return []
    from . import htmltree  # lxml: only a build needs it, not a send (which tracks links)

    return [str(href) for href in htmltree.fragment(text).xpath("//a/@href")]


def _stories(contents) -> list[tuple[str, str, str, list[str]]]:
    """(section, story, title, its URLs) in the email's order."""
    stories = [("featured", p.slug, p.title, [p.url, *_html_links(p.excerpt)]) for p in contents.featured]
    stories += [("more", p.slug, p.title, [p.url, *_html_links(p.excerpt)]) for p in contents.posts]
    stories += [("briefs", b.id, b.lead, [b.link, *_html_links(b.text_html)]) for b in contents.briefs]
    return stories


def link_table(ws: Workspace, contents, email_html: str, email_text: str, intro_html: str) -> list[Link]:
    """The tracked links of a build, in the order they first appear in the HTML, then the text."""
    place: dict[str, tuple[str, str, str]] = {}
    for section, story, title, urls in _stories(contents):
        for url in urls:
            place.setdefault(url, (section, story, title))
    for url in _html_links(intro_html):
        place.setdefault(url, ("intro", "", ""))
    table: dict[str, Link] = {}
    for url in [*_html_links(email_html), *_TEXT_URL.findall(email_text)]:
        if url in table or not is_tracked(ws, url):
            continue
        section, story, title = place.get(url, ("other", "", ""))
        table[url] = Link(link_id(section, story, url), url, section, story, title)
    return list(table.values())


def links_json(links: list[Link]) -> str:
    return json.dumps({"links": [asdict(link) for link in links]}, indent=2, ensure_ascii=False) + "\n"


def read_links(folder: Path) -> list[Link]:
    """The link table of the build in `folder`; GbaletterError when it is missing or damaged."""
    path = folder / LINKS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Link(**item) for item in data["links"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GbaletterError(f"{path}: no readable link table ({exc}); rebuild the issue") from None


def built_links(ws: Workspace, issue_id: str) -> list[Link]:
    """The link table of the issue's build; empty when there is none (`issue check` says so)."""
    try:
        return read_links(ws.issue_dir(issue_id) / "build")
    except GbaletterError:
        return []


def sample_token(issue_id: str) -> str:
    """A delivery token as long as a real one (a seven-digit journal row), for size checks only:
    signed with a throw-away key, so it opens nothing."""
    return Signer(b"size-check-sample-key", "sample").make(DELIVERY, 9_999_999, issue_id)


def track(ws: Workspace, links: list[Link], email_html: str, email_text: str,
          opens: bool = False) -> tuple[str, str]:
    """(html, text) with every tracked link pointing at `<base_url>/c/{{click_token}}/<id>`, and
    with `opens`, a 1x1 image at the end of the HTML body. Links not in the table stay as they are."""
    token = placeholders.marker("click_token")
    target = {link.url: click_url(ws, token, link.id) for link in links}

    def rewrite_href(match: re.Match) -> str:
        url = html.unescape(match.group(2))
        if url not in target:
            return match.group(0)
        return match.group(1) + html.escape(target[url]) + match.group(3)

    tracked_html = _HREF.sub(rewrite_href, email_html)
    tracked_text = _TEXT_URL.sub(lambda m: target.get(m.group(0), m.group(0)), email_text)
    if opens:
        pixel = (f'<img src="{html.escape(open_url(ws, token))}" width="1" height="1" alt="" '
                 'style="display:block;border:0;width:1px;height:1px">')
        at = tracked_html.lower().rfind("</body>")
        if at == -1:
            raise GbaletterError("email.html has no </body> to put the open-tracking image in")
        tracked_html = tracked_html[:at] + pixel + tracked_html[at:]
    return tracked_html, tracked_text
