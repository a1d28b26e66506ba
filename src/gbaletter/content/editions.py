"""A story's texts in the desk's languages: its original and its translations, each its own file.

A post or a briefs file says its language (`lang: zh-Hant`, default: the desk's first); a
translation is a file of its own naming its original (`translation_of: <slug>`), so editors review
and diff each text. A text derived by OpenCC rather than translated says how (`converted: hk2s`)
and is listed for review. `derive` writes one (`gbaletter posts derive`).

`story_texts` checks every file against the desk and returns each story's texts by language; the
problems are one line each, naming the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from ..errors import GbaletterError, at_line
from ..fsutil import key_line, shown
from ..languages import UnknownLanguage, normalize_language
from . import frontmatter
from .briefs import briefs_text
from .conversion import SCRIPTS, ScriptConverter

T = TypeVar("T")


@dataclass
class Story(Generic[T]):
    """One story (a post, or a briefs file's items): its text in each language it has."""

    key: str             # the original's slug (post) or file stem (briefs)
    original: T
    language: str        # the original's
    texts: dict[str, T] = field(default_factory=dict)  # language -> text, the original included
    paths: dict[str, Path] = field(default_factory=dict)
    converted: dict[str, str] = field(default_factory=dict)  # language -> OpenCC configuration


@dataclass(frozen=True)
class _Text(Generic[T]):
    key: str
    path: Path
    lang: str
    translation_of: str
    converted: str
    item: T


def story_texts(texts: Sequence[_Text[T]], languages: Sequence[str], kind: str) -> dict[str, Story[T]]:
    """Group texts into stories by their original; GbaletterError with one line per problem:
    an unknown language, a translation naming no original (or a translation), a translation in
    its original's language, two translations of one story into the same language."""
    problems: list[str] = []
    language_of: dict[str, str] = {}
    texts = sorted(texts, key=lambda text: text.path)  # "the first" of two is the first file name
    for text in texts:
        try:
            language_of[text.key] = normalize_language(text.lang, languages) if text.lang else languages[0]
        except UnknownLanguage as exc:
            problems.append(f"{_at_key(text.path, 'lang')}: 'lang': {exc}")
    by_key = {text.key: text for text in texts}
    stories: dict[str, Story[T]] = {
        text.key: Story(text.key, text.item, language_of[text.key], {language_of[text.key]: text.item},
                        {language_of[text.key]: text.path})
        for text in texts if not text.translation_of and text.key in language_of}
    for text in texts:
        if not text.translation_of or text.key not in language_of:
            continue
        where, ref, language = _at_key(text.path, "translation_of"), text.translation_of, language_of[text.key]
        original = by_key.get(ref)
        if original is None:
            problems.append(f"{where}: 'translation_of': there is no {kind} '{ref}'")
            continue
        if original.translation_of:
            problems.append(f"{where}: 'translation_of': '{ref}' is itself a translation (of "
                            f"'{original.translation_of}'); name the original")
            continue
        story = stories.get(ref)
        if story is None:
            continue  # the original's own problem is reported
        if language in story.texts:
            first = shown(story.paths[language])
            problems.append(f"{_at_key(text.path, 'lang')}: a second {language} text of '{ref}' (the first "
                            f"is {first})" if language != story.language else
                            f"{_at_key(text.path, 'lang')}: 'lang' is {language}, the language of its "
                            f"original '{ref}'")
            continue
        story.texts[language], story.paths[language] = text.item, text.path
        if text.converted:
            story.converted[language] = text.converted
    if problems:
        raise GbaletterError("\n".join(problems))
    return stories


def _at_key(path: Path, key: str) -> str:
    """`file:line` of the file's `key`, where a message about its value points."""
    return at_line(shown(path), key_line(path, key))


def post_stories(posts: Sequence, languages: Sequence[str]) -> dict[str, Story]:
    """Posts (content.Post) grouped into stories, by the original's slug."""
    return story_texts([_Text(p.slug, p.path, p.lang, p.translation_of, p.converted, p) for p in posts],
                       languages, "post")


def brief_stories(briefs: Sequence, languages: Sequence[str]) -> dict[str, Story]:
    """Briefs files grouped into stories, by the original file's stem (a story's text: its items)."""
    files: dict[Path, list] = {}
    for brief in briefs:
        files.setdefault(brief.path, []).append(brief)
    return story_texts([_Text(path.stem, path, items[0].lang, items[0].translation_of, items[0].converted,
                              items) for path, items in files.items()], languages, "briefs file")


_DERIVED_POST_KEYS = ("title", "excerpt", "summary", "image_alt")
_DERIVED_BRIEF_KEYS = ("lead", "text")


def derive(story: Story, target: str, converter: ScriptConverter) -> tuple[Path, str]:
    """(path, file text) of `story` in Chinese script `target`, derived by OpenCC (after the
    glossary) from its text in the other script, marked `converted`; nothing is written.

    Refused, in one line, when the story has no text in the other script, or has a `target` text
    an editor wrote (one derived before is derived again)."""
    existing = story.paths.get(target)
    if existing is not None and target not in story.converted:
        raise GbaletterError(f"{shown(existing)} is a {target} text an editor wrote (no 'converted'); "
                             "it is left as it is")
    source_language = SCRIPTS[1 - SCRIPTS.index(target)]
    source = story.paths.get(source_language)
    if source is None:
        raise GbaletterError(f"'{story.key}' has no {source_language} text to derive {target} from "
                             f"(it has {', '.join(story.texts)})")
    path = existing or source.with_name(f"{story.key}.{target}{source.suffix}")
    mark = {"lang": target, "translation_of": story.key, "converted": converter.configuration(target)}
    text = frontmatter.read_text(source)
    if source.suffix == ".md":
        meta, body = frontmatter.split(text, shown(source))
        meta = {key: converter.convert(value, target) if key in _DERIVED_POST_KEYS and isinstance(value, str)
                else value for key, value in meta.items() if key not in ("guid", *mark)}
        return path, frontmatter.render({**meta, **mark}, converter.convert(body, target))
    data = frontmatter.load_yaml(text, shown(source))
    assert isinstance(data, dict)  # the file was loaded as briefs before
    items = [{key: converter.convert(value, target) if key in _DERIVED_BRIEF_KEYS and isinstance(value, str)
              else value for key, value in item.items()} for item in data["items"]]
    kept = {key: value for key, value in data.items() if key not in ("guid", "items", *mark)}
    return path, briefs_text({**kept, **mark, "items": items})
