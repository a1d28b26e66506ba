"""One edition of an issue: what the build of `language` is made from (docs/editions.md).

The manifest gives each edition its subject, preheader and intro (`editions:`); each story is
shown in the edition's language when it has a text in it (a translation is a file of its own,
`content.editions`), else in its original. Done once per edition per issue, never per reader.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Workspace
from ..content import Brief, Post, load_briefs, load_posts
from ..content.editions import Story, brief_stories, post_stories
from ..languages import LANGUAGES, normalize_language
from ..translations import N_, translations
from .recorded import edition_file as edition_file  # the build's file names live with the build's record

if TYPE_CHECKING:
    from .manifest import Manifest
    from .render import Contents


# A language's name as a label (translated like the others: 英文, 繁體中文, 简体中文).
LANGUAGE_NAMES = {"en": N_("English"), "zh-Hant": N_("Traditional Chinese"), "zh-Hans": N_("Simplified Chinese")}


@dataclass(frozen=True)
class ShownIn:
    """How a story's text stands in an edition of another language: the `lang` attribute of its
    element, the name of its language (a label the templates translate) and its lead-in
    separator (a brief's ':' or '：', as its own language writes it). All "" in its own."""

    lang: str = ""
    language_name: str = ""
    separator: str = ""


def shown_in(ws: Workspace, text_lang: str, language: str) -> ShownIn:
    """A text written in `text_lang` (a post's or briefs file's `lang`, "" for the desk's default;
    checked when the issue's contents were read) in the edition in `language`."""
    tag = normalize_language(text_lang, ws.config.newsletter.languages) if text_lang else ws.config.newsletter.language
    if tag == language:
        return ShownIn()
    return ShownIn(LANGUAGES[tag].html_lang, LANGUAGE_NAMES[tag], translations(tag).gettext(":"))


def _post_in(story: Story | None, post: Post, language: str) -> Post:
    """The post's text in `language`, under the original's slug: a story is one story in every
    edition (its links are attributed to it, `links.link_table`), whichever file its text is in."""
    if story is None or language not in story.texts:
        return post
    return dataclasses.replace(story.texts[language], slug=post.slug)


def _has_text(story: Story | None, language: str) -> bool:
    """Whether a story has a text in `language` (content outside `content.editions`' stories: yes)."""
    return story is None or language in story.texts


def _brief_in(story: Story | None, brief: Brief, language: str) -> Brief:
    """The item at the same place in the briefs file's text in `language` (a translation keeps
    its original's items in order), under the original item's id (one story in every edition),
    else the original item."""
    if story is None or language not in story.texts:
        return brief
    items, translated = story.original, story.texts[language]
    place = next((i for i, item in enumerate(items) if item.id == brief.id), None)
    return dataclasses.replace(translated[place], id=brief.id) if place is not None and place < len(translated) \
        else brief


def _stories(ws: Workspace) -> tuple[dict[str, Story], dict[str, Story]]:
    languages = ws.config.newsletter.languages
    return (post_stories(load_posts(ws.posts_dir, ws.tz), languages),
            brief_stories(load_briefs(ws.briefs_dir, ws.tz), languages))


def translation_files(ws: Workspace, contents: Contents) -> set[Path]:
    """Every text of the issue's stories in the desk's other languages: a build of several
    editions is made from them too (a changed translation makes it stale)."""
    if len(ws.config.newsletter.languages) < 2:
        return set()
    posts, briefs = _stories(ws)
    stories = [*(posts.get(p.slug) for p in (*contents.featured, *contents.posts)),
               *(briefs.get(b.path.stem) for b in contents.briefs)]
    return {path for story in stories if story is not None for path in story.paths.values()}


def edition_inputs(ws: Workspace, manifest: Manifest, contents: Contents,
                   language: str) -> tuple[Manifest, Contents]:
    """The manifest and contents of the edition in `language`: its own subject, preheader and
    intro (the default's where the manifest gives none), each story in its text in `language`;
    a story without one is kept (the templates label it) or, with `untranslated: leave-out`, left
    out of this edition."""
    posts, briefs = _stories(ws)
    text = manifest.text(language)
    if text is not None and language != manifest.language:
        manifest = dataclasses.replace(manifest, subject=text.subject, preheader=text.preheader or manifest.preheader,
                                       intro=text.intro or manifest.intro)
    keep_all = manifest.untranslated != "leave-out"

    def shown(items: list, stories: dict[str, Story], key) -> list:
        return [item for item in items if keep_all or _has_text(stories.get(key(item)), language)]

    return manifest, dataclasses.replace(
        contents,
        featured=[_post_in(posts.get(p.slug), p, language)
                  for p in shown(contents.featured, posts, lambda p: p.slug)],
        posts=[_post_in(posts.get(p.slug), p, language) for p in shown(contents.posts, posts, lambda p: p.slug)],
        briefs=[_brief_in(briefs.get(b.path.stem), b, language)
                for b in shown(contents.briefs, briefs, lambda b: b.path.stem)])
