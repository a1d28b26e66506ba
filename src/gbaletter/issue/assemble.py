"""`issue new`: pick the posts and briefs of a week (or date range) by tag into a new manifest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ..config import Workspace
from ..content import Brief, Post, load_briefs, load_posts
from ..content.select import Window, matching
from ..errors import GbaletterError, NothingToDo
from .ids import check_issue_id
from .manifest import Manifest, existing_numbers, load_manifest, manifest_path, save_manifest


@dataclass(frozen=True)
class NewIssue:
    manifest: Manifest
    path: Path
    posts: list[Post]
    briefs: list[Brief]


PREHEADER_TITLES_MAX = 80  # inboxes show ~90-140 characters of preview; keep room for the counts


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _preheader(featured: list[Post], others: list[Post], briefs: list[Brief]) -> str:
    """The inbox preview line: the next two headlines, then how much more there is."""
    titles: list[str] = []
    for post in (featured + others)[1:3]:
        if len("; ".join([*titles, post.title])) <= PREHEADER_TITLES_MAX:
            titles.append(post.title)
    extra = []
    if len(featured) + len(others) > 3:
        extra.append(_count(len(featured) + len(others) - 3, "more story", "more stories"))
    if briefs:
        extra.append(_count(len(briefs), "brief", "briefs"))
    text = "; ".join(titles)
    return f"{text}, plus {' and '.join(extra)}" if extra and text else text or " and ".join(extra)


def _number_for(ws: Workspace, issue_id: str, replacing: bool) -> int:
    """A replaced issue keeps its number; a new one comes after the highest so far."""
    if replacing:
        try:
            return load_manifest(ws, issue_id).number
        except GbaletterError:
            pass  # the old manifest is broken: it is being replaced, so number it afresh
    return max(existing_numbers(ws, exclude=issue_id), default=0) + 1


def new_issue(ws: Workspace, span: Window, tags: tuple[str, ...] = (), issue_id: str | None = None,
              force: bool = False, trial: bool = False) -> NewIssue:
    """Write `issues/<ID>/issue.yaml` for the content dated in `span` with any of `tags`.

    A `trial` issue (the first send into a local sink, from the sample content) is numbered 0 and
    named `trial-<week>`: the first real issue is still #1.
    """
    issue_id = check_issue_id(issue_id or (f"trial-{span.label}" if trial else span.label))
    path = manifest_path(ws, issue_id)
    if path.exists() and not force:
        raise GbaletterError(f"issue {issue_id} already exists ({ws.display(path)}); "
                             "edit it, or pass --force to replace it")
    tags = tags or tuple(ws.config.newsletter.default_tags)
    # a translation is another edition's text of a story, not a story of its own
    posts = sorted(matching([post for post in load_posts(ws.posts_dir, ws.tz) if not post.translation_of],
                            span, tags), key=lambda p: p.date, reverse=True)
    briefs = matching([brief for brief in load_briefs(ws.briefs_dir, ws.tz) if not brief.translation_of],
                      span, tags)
    if not posts and not briefs:
        raise NothingToDo(f"no posts or briefs dated {span.start:%Y-%m-%d} to "
                          f"{span.end - timedelta(days=1):%Y-%m-%d} with tags {', '.join(tags)}")
    number = 0 if trial else _number_for(ws, issue_id, replacing=path.exists())
    featured_count = ws.config.newsletter.featured_count
    featured, others = posts[:featured_count], posts[featured_count:]
    name = ws.config.newsletter.name
    lead = featured[0].title if featured else briefs[0].lead
    manifest = Manifest(
        id=issue_id, number=number, date=(span.end - timedelta(days=1)).date(),
        subject=f"{name} trial: {lead}" if trial else f"{name} #{number}: {lead}",
        preheader=_preheader(featured, others, briefs),
        featured=tuple(p.slug for p in featured), posts=tuple(p.slug for p in others),
        briefs=tuple(b.id for b in briefs),
    )
    labels = {p.slug: p.title for p in posts} | {b.id: b.lead for b in briefs}
    return NewIssue(manifest, save_manifest(ws, manifest, labels), posts, briefs)
