"""`issue build`: manifest -> Jinja2 -> MJML -> mjml-python -> premailer -> email.html + email.txt.

Everything here is computed once per issue. Subscriber values stay as placeholders (see
`gbaletter.placeholders`), so sending fills them in with a split and a join, not a render.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from dataclasses import dataclass
from datetime import datetime, UTC
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
import mjml
from lxml import etree
from markupsafe import Markup
from .offline_premailer import Premailer

from .. import placeholders
from ..config import Workspace
from ..content import Brief, Post, load_briefs, markdown
from ..content.posts import load_post
from ..errors import GbaletterError, at_line
from ..fsutil import key_line, replace_folder
from ..links import archive_url, image_url
from ..languages import UnknownLanguage, normalize_language
from ..translations import format_day, name_fallback
from . import htmltree
from .editorial import kicker
from .images import PreparedImage, build_files, local_files, prepare_images, publish
from .links import LINKS_FILE, Link, link_table, links_json
from .manifest import Manifest, load_manifest
from .recorded import BUILD_INFO, input_names, inputs_digest
from .edition import edition_file, edition_inputs, shown_in, translation_files
from .templates import template_environment

HTML_TEMPLATE = "email/issue.mjml.j2"
TEXT_TEMPLATE = "email/issue.txt.j2"
GMAIL_CLIP_BYTES = 102 * 1024
WARN_BYTES = 90 * 1024


@dataclass(frozen=True)
class StoryImage:
    """An image as the email shows it: its address at 1x (600 px wide) and 2x (1200 px), the
    size of the 1x file (a template shows it at most that wide, as the lead, or smaller as a
    thumbnail, scaling `height` with `width` for the email's attributes; every image has the same
    aspect ratio) and its alt text."""

    src: str
    src_2x: str
    width: int
    height: int
    alt: str


@dataclass(frozen=True)
class PostView:
    """A post as the templates see it."""

    slug: str
    title: str
    url: str
    excerpt: str
    date_label: str
    tags: tuple[str, ...]
    image: StoryImage | None
    kicker: str = ""  # the editorial section over the headline, from `[kickers]` ('' for none)
    # A story shown in another language than the edition's (it has no text in the edition's):
    # its `lang` attribute and the name of its language (a label, translated in the templates).
    lang: str = ""
    language_name: str = ""


@dataclass(frozen=True)
class BriefView:
    """A brief item as the templates see it; `lang` and `language_name` as a PostView's, and the
    lead-in `separator` of its own language when that is not the edition's ("": the edition's)."""

    id: str
    lead: str
    text_html: str
    plain_text: str
    link: str
    lang: str = ""
    language_name: str = ""
    separator: str = ""


@dataclass(frozen=True)
class Build:
    issue_id: str
    folder: Path
    html: str
    text: str
    mjml: str
    info: dict
    warnings: list[str]
    # what it was made from, as loaded (`built.state_of` hands them to the check after the build)
    manifest: Manifest
    contents: Contents

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))


def _template_error(exc: Exception) -> GbaletterError:
    """`template:line: message` for syntax errors and for errors raised while rendering."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = exc.filename or exc.name or "template"
        return GbaletterError(f"{where}:{exc.lineno}: template syntax error: {exc.message}")
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "template"
    if isinstance(exc, RecursionError):
        return GbaletterError(f"{where}: template error: templates include one another without end "
                              "(a template includes itself, or two include each other)")
    return GbaletterError(f"{where}: template error: {exc}")


def _render(env: jinja2.Environment, name: str, context: dict) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise GbaletterError(f"template '{exc.name}' not found in the workspace's templates "
                             "folder or the package defaults") from None
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError, ArithmeticError,
            RecursionError) as exc:
        raise _template_error(exc) from None


def _edition_problems(ws: Workspace, post: Post | Brief, key: str) -> list[str]:
    """A referenced post or brief must be an original (its translations come with it) in a desk
    language."""
    where = ws.display(post.path)
    if post.translation_of:
        return [f"{where}: is a translation of '{post.translation_of}'; list the original in '{key}'"]
    if post.lang:
        try:
            normalize_language(post.lang, ws.config.newsletter.languages)
        except UnknownLanguage as exc:
            return [f"{at_line(where, key_line(post.path, 'lang'))}: 'lang': {exc}"]
    return []


@dataclass(frozen=True)
class Contents:
    """A manifest's references, loaded."""

    featured: list[Post]
    posts: list[Post]
    briefs: list[Brief]

    @property
    def files(self) -> set[Path]:
        return {post.path for post in (*self.featured, *self.posts)} | {brief.path for brief in self.briefs}


def resolve(ws: Workspace, manifest: Manifest) -> Contents:
    """Load what the manifest references; unknown ids are named with the manifest's path.

    Posts are read by file name (their id), so a build reads only the posts it shows.
    """
    where = ws.display(manifest.path) if manifest.path else manifest.id
    problems, posts = [], {}
    for key in ("featured", "posts"):
        for ref in getattr(manifest, key):
            path = ws.posts_dir / f"{ref}.md"
            if "/" in ref or not path.is_file():
                problems.append(f"{where}: unknown post '{ref}' in '{key}' "
                                f"(no {ws.config.paths.posts}/{ref}.md)")
                continue
            try:
                posts[ref] = load_post(path, ws.tz)
            except GbaletterError as exc:
                problems.append(str(exc))
                continue
            if not posts[ref].url:
                problems.append(f"{ws.display(path)}: no 'url' to link the post to")
            problems += _edition_problems(ws, posts[ref], key)
    briefs = {b.id: b for b in load_briefs(ws.briefs_dir, ws.tz)}
    problems += [f"{where}: unknown brief '{ref}' in 'briefs'" for ref in manifest.briefs if ref not in briefs]
    problems += sorted({problem for ref in manifest.briefs if ref in briefs
                        for problem in _edition_problems(ws, briefs[ref], "briefs")})
    if problems:
        raise GbaletterError("\n".join(problems))
    return Contents([posts[r] for r in manifest.featured], [posts[r] for r in manifest.posts],
                    [briefs[r] for r in manifest.briefs])


def _story_image(ws: Workspace, image: PreparedImage | None, alt: str) -> StoryImage | None:
    if image is None:
        return None
    return StoryImage(image_url(ws, image.one_x.name), image_url(ws, image.two_x.name),
                      image.one_x.width, image.one_x.height, alt)


def _post_view(post: Post, ws: Workspace, images: dict[str, PreparedImage], language: str) -> PostView:
    shown = shown_in(ws, post.lang, language)
    return PostView(slug=post.slug, title=post.title, url=post.url, excerpt=post.excerpt,
                    date_label=format_day(post.date.astimezone(ws.tz), language),
                    tags=post.tags, image=_story_image(ws, images.get(post.image), post.image_alt),
                    kicker=kicker(post.tags, ws.config.kickers),
                    lang=shown.lang, language_name=shown.language_name)


def _brief_view(brief: Brief, ws: Workspace, language: str) -> BriefView:
    shown = shown_in(ws, brief.lang, language)
    return BriefView(id=brief.id, lead=brief.lead, text_html=brief.text_html, plain_text=brief.plain_text,
                     link=brief.link, lang=shown.lang, language_name=shown.language_name,
                     separator=shown.separator)


def issue_context(ws: Workspace, manifest: Manifest, contents: Contents,
                  images: dict[str, PreparedImage], language: str = "") -> dict:
    """Everything the templates see, placeholders included, for the edition in `language` (default:
    the desk's first)."""
    news = ws.config.newsletter
    language = language or news.language
    intro_html = markdown.to_html(manifest.intro) if manifest.intro else ""
    return {
        "newsletter": news,
        "issue": {"id": manifest.id, "number": manifest.number, "subject": manifest.subject,
                  "preheader": manifest.preheader,
                  "date_label": format_day(manifest.date, language)},
        "intro_html": Markup(intro_html),
        "intro_text": "\n\n".join(markdown.html_to_text(p) for p in intro_html.split("</p>") if p.strip()),
        "featured": [_post_view(p, ws, images, language) for p in contents.featured],
        "posts": [_post_view(p, ws, images, language) for p in contents.posts],
        "briefs": [_brief_view(b, ws, language) for b in contents.briefs],
        "sections": ws.config.sections,
        "site_host": urlsplit(news.base_url).hostname or news.base_url,
        "archive_url": archive_url(ws),
        **{name: Markup(placeholders.marker(name)) for name in placeholders.TEMPLATE_NAMES},
    }


@lru_cache(maxsize=1)
def _set_up_cssutils() -> None:
    """Quiet CSS parsing without validation, set once per process.

    cssutils reports every vendor property (mso-*, -ms-*) on stderr; editors need none of it.
    premailer 3.10 validates each element's own style attribute and each image's style whatever
    `disable_validation` says; a validation only logs, never changes the output, and its first
    use compiles ~30 large regular expressions (cssutils' property profiles): over 100 ms of a
    300 ms `gbaletter issue build`. Without profiles every property is "unknown" to the validator,
    which then has nothing to compile (and logs below the level above).
    """
    import cssutils

    cssutils.log.setLevel(logging.CRITICAL)
    cssutils.profile.removeProfile(all=True)


INLINE_MARK = "gbaletter:inline"
_STYLE_TAG = re.compile(r"<style\b([^>]*)>(.*?)</style>", re.S | re.I)


def _leave_mjml_styles_alone(html: str) -> str:
    """Mark MJML's own <style> blocks (client resets, column widths) for premailer to skip.

    Reference MJML keeps them in the head, and inlining them into every table and cell costs
    ~10 KB and most of premailer's time. Only blocks carrying INLINE_MARK (the template's
    mj-style) are inlined.
    """
    def mark(match: re.Match) -> str:
        if INLINE_MARK in match.group(2):
            return match.group(0)
        return f'<style data-premailer="ignore"{match.group(1)}>{match.group(2)}</style>'

    return _STYLE_TAG.sub(mark, html)


def inline_css(html: str) -> str:
    """premailer, set up for MJML output: offline, `!important` kept in @media, doctype kept."""
    _set_up_cssutils()
    html = _leave_mjml_styles_alone(html)
    tree = htmltree.plain_tree(html)  # parsed here: premailer's own parser cuts 10 MB of text
    inliner = Premailer(
        tree.getroot(),
        allow_network=False,          # MJML may link font CSS; never fetch anything while building
        strip_important=False,        # the @media rules that stack columns on phones need it
        keep_style_tags=True,         # @media and dark-mode rules can only live in <style>
        remove_classes=False,         # the kept rules select by class
        cache_css_parsing=True,
        disable_validation=True,
        disable_basic_attributes=["width", "height"],  # keep MJML's pixel widths for Outlook
        cssutils_logging_level=logging.CRITICAL,
    )
    inliner.transform()
    inlined = etree.tostring(tree.getroot(), method="html", encoding="unicode")
    inlined = inlined.replace(' data-premailer="ignore"', "")
    if not inlined.lstrip().lower().startswith("<!doctype"):
        inlined = "<!doctype html>\n" + inlined  # premailer drops MRML's lowercase doctype
    return inlined


def compile_mjml(source: str, template: str = HTML_TEMPLATE) -> str:
    try:
        return mjml.mjml2html(source, fonts={}, disable_comments=True)
    except ValueError as exc:
        raise GbaletterError(f"{template}: invalid MJML: {exc}") from None


def input_files(ws: Workspace, manifest: Manifest, contents: Contents) -> set[Path]:
    """The files a build of `manifest` is made from, besides the templates (`recorded.inputs_digest`):
    the manifest, the content it names (in each of the desk's languages) and the posts' local image
    files."""
    local_images = local_files(ws, [*contents.featured, *contents.posts])
    return {path for path in (manifest.path, *contents.files, *local_images, *translation_files(ws, contents))
            if path is not None}


def render_issue(ws: Workspace, manifest: Manifest, contents: Contents,
                 images: dict[str, PreparedImage], language: str = "") -> tuple[str, str, str]:
    """(mjml, html, text) for a manifest and its prepared images in `language` (default: the desk's
    first), nothing written."""
    language = language or ws.config.newsletter.language
    env = template_environment(ws.templates_dir, language, ws.cache_dir)
    context = issue_context(ws, manifest, contents, images, language)
    source = _render(env, HTML_TEMPLATE, context)
    text = _render(env, TEXT_TEMPLATE, context)
    html = inline_css(compile_mjml(source))
    return source, html, text.strip() + "\n"


def size_problem(html_bytes: int) -> tuple[str, bool]:
    """('' | message, is_fatal) for the HTML size against Gmail's ~102 KB clipping point."""
    kib = html_bytes / 1024
    if html_bytes > GMAIL_CLIP_BYTES:
        return (f"email.html is {kib:.1f} KB: Gmail clips messages over 102 KB "
                "(shorten the issue, or pass --force)", True)
    if html_bytes > WARN_BYTES:
        return f"email.html is {kib:.1f} KB, close to Gmail's 102 KB clipping point", False
    return "", False


def _intro_html(manifest: Manifest) -> str:
    return markdown.to_html(manifest.intro) if manifest.intro else ""


def _editions(ws: Workspace, manifest: Manifest, contents: Contents,
              images: dict[str, PreparedImage]) -> dict[str, tuple[Manifest, str, str, list[Link]]]:
    """language -> (its manifest, html, text, tracked links) of each edition, once per issue; none for
    a desk with one language (its `email.html` is the only edition). The default language's is
    `email.html` too. An edition's links are attributed to its stories, which keep the original's
    slug or id (`edition_inputs`), so a translation's own URL counts under the same story."""
    languages = ws.config.newsletter.languages
    if len(languages) < 2:
        return {}
    editions = {}
    for language in languages:
        edition_manifest, edition_contents = edition_inputs(ws, manifest, contents, language)
        _source, html, text = render_issue(ws, edition_manifest, edition_contents, images, language)
        links = link_table(ws, edition_contents, html, text, _intro_html(edition_manifest))
        editions[language] = (edition_manifest, html, text, links)
    return editions


def build_issue(ws: Workspace, issue_id: str, force: bool = False) -> Build:
    """Render issue `issue_id` and replace its build folder as a whole."""
    manifest = load_manifest(ws, issue_id)
    contents = resolve(ws, manifest)
    posts = [*contents.featured, *contents.posts]
    images = prepare_images(ws, posts)
    source, html, text = render_issue(ws, manifest, contents, images)
    files = input_files(ws, manifest, contents)
    editions = _editions(ws, manifest, contents, images)
    if editions:  # email.html is the default language's edition (its stories as that edition has them)
        _manifest, html, text, _links = editions[ws.config.newsletter.language]
    warnings = []
    problem, fatal = size_problem(len(html.encode("utf-8")))
    if problem and fatal and not force:
        raise GbaletterError(problem)
    if problem:
        warnings.append(problem)
    info = {
        "issue": manifest.id,
        "number": manifest.number,
        "subject": manifest.subject,
        "preheader": manifest.preheader,
        "date": manifest.date.isoformat(),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": inputs_digest(ws, files),
        "files": input_names(ws, files),
        "html_bytes": len(html.encode("utf-8")),
        "text_bytes": len(text.encode("utf-8")),
        "name_fallback": name_fallback(ws.config.newsletter.name_fallback, ws.config.newsletter.language),
    }
    if editions:
        info["editions"] = {language: {"subject": edition.subject, "preheader": edition.preheader,
                                       "html_bytes": len(edition_html.encode("utf-8")),
                                       "name_fallback": name_fallback(ws.config.newsletter.name_fallback,
                                                                      language)}
                            for language, (edition, edition_html, _, _) in editions.items()}
    links = link_table(ws, contents, html, text, _intro_html(manifest))
    for *_, edition_links in editions.values():  # links only an edition has
        known = {link.url for link in links}
        links += [link for link in edition_links if link.url not in known]
    folder = ws.issue_dir(issue_id) / "build"
    image_files = build_files(ws, posts, images)
    publish(ws, image_files)
    edition_files = {edition_file(name, language): part for language, (_, edition_html, edition_text, _)
                     in editions.items() for name, part in (("email.html", edition_html),
                                                            ("email.txt", edition_text))}
    replace_folder(folder, {"email.mjml": source, "email.html": html, "email.txt": text,
                            LINKS_FILE: links_json(links), BUILD_INFO: json.dumps(info, indent=2) + "\n",
                            **edition_files, **image_files})
    return Build(issue_id, folder, html, text, source, info, warnings, manifest, contents)

