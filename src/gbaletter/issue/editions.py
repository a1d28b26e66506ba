"""What `issue check` looks at for a desk writing in several languages (docs/editions.md): labels
without a translation, stories without a text in one of the languages, and texts OpenCC derived
that an editor has not reviewed yet.

Each function gives (where, what) pairs; `check` makes them findings of its rules.
"""

from __future__ import annotations

from ..config import Workspace
from ..content import load_briefs, load_posts
from ..content.conversion import SCRIPTS
from ..content.editions import Story, brief_stories, post_stories
from ..translations import SOURCE_LANGUAGE, catalogue_problems
from .render import Contents


def untranslated_labels(ws: Workspace) -> list[tuple[str, str]]:
    """The desk's catalogues against every label of the package's and the workspace's templates
    (those named relative to the workspace, as every finding is); nothing to look at for a desk
    writing in English only."""
    languages = [tag for tag in ws.config.newsletter.languages if tag != SOURCE_LANGUAGE]
    if not languages:
        return []
    return catalogue_problems(languages, [ws.templates_dir], ws.display)


def _stories(ws: Workspace, contents: Contents) -> list[Story]:
    """The issue's stories (featured, posts, then briefs files), each with its texts by language."""
    languages = ws.config.newsletter.languages
    posts = post_stories(load_posts(ws.posts_dir, ws.tz), languages)
    briefs = brief_stories(load_briefs(ws.briefs_dir, ws.tz), languages)
    keys = [*(post.slug for post in (*contents.featured, *contents.posts)),
            *dict.fromkeys(brief.path.stem for brief in contents.briefs)]
    return [story for key in keys if (story := posts.get(key) or briefs.get(key)) is not None]


def story_problems(ws: Workspace, contents: Contents) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(untranslated, converted): for each of the issue's stories, each desk language it has no
    text in, and each text OpenCC wrote that still says `converted`; nothing for a one-language
    desk."""
    languages = ws.config.newsletter.languages
    if len(languages) < 2:
        return [], []
    untranslated, converted = [], []
    for story in _stories(ws, contents):
        where = ws.display(story.paths[story.language])
        for language in languages:
            if language not in story.texts:
                derive = (f"`gbaletter posts derive {story.key} --to {language}` or translate it"
                          if language in SCRIPTS and set(SCRIPTS) & set(story.texts) else "translate it")
                untranslated.append((where, f"no {language} text of '{story.key}': {derive}"))
        for language, configuration in story.converted.items():
            converted.append((ws.display(story.paths[language]),
                              f"{language} text written by OpenCC ({configuration}) from '{story.key}': "
                              "review it, then remove 'converted'"))
    return untranslated, converted
