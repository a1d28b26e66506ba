"""What `issue check` looks at for a desk writing in several languages (docs/editions.md): labels
without a translation, and story texts OpenCC derived that an editor has not reviewed yet.

Each function gives (where, what) pairs; `check` makes them findings of its rules.
"""

from __future__ import annotations

from ..config import Workspace
from ..content import frontmatter
from ..errors import GbaletterError
from ..translations import SOURCE_LANGUAGE, catalogue_problems
from .render import Contents


def untranslated_labels(ws: Workspace) -> list[tuple[str, str]]:
    """The desk's catalogues against every label of the package's and the workspace's templates;
    nothing to look at for a desk writing in English only."""
    languages = [tag for tag in ws.config.newsletter.languages if tag != SOURCE_LANGUAGE]
    return catalogue_problems(languages, [ws.templates_dir]) if languages else []


def converted_texts(ws: Workspace, contents: Contents) -> list[tuple[str, str]]:
    """The translations of the issue's stories still marked `converted` (written by OpenCC):
    files beside the original named `<original>.<language>.md` / `.yaml`."""
    if len(ws.config.newsletter.languages) < 2:
        return []
    originals = {post.path for post in (*contents.featured, *contents.posts)} | {b.path for b in contents.briefs}
    found = []
    for original in sorted(originals):
        for path in sorted(original.parent.glob(f"{original.stem}.*{original.suffix}")):
            try:
                text = frontmatter.read_text(path)
                meta = (frontmatter.split(text, ws.display(path))[0] if path.suffix == ".md"
                        else frontmatter.load_yaml(text, ws.display(path)))
            except GbaletterError as exc:
                found.append((ws.display(path), f"cannot be read: {exc}"))
                continue
            if isinstance(meta, dict) and meta.get("converted"):
                found.append((ws.display(path), f"{meta.get('lang', '?')} text written by OpenCC "
                                                f"({meta['converted']}) from '{original.stem}': review it, "
                                                "then remove 'converted'"))
    return found
