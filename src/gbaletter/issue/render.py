"""`issue build`: manifest -> Jinja2 -> MJML -> mjml-python -> premailer -> email.html + email.txt.

Everything here is computed once per issue. Subscriber values stay as placeholders (see
`gbaletter.placeholders`), so sending fills them in with a split and a join, not a render.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import traceback
from dataclasses import dataclass
from datetime import datetime, UTC
from functools import lru_cache, partial
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
import mjml
from markupsafe import Markup
from premailer import Premailer

from .. import placeholders
from ..config import Workspace
from ..content import Brief, Post, load_briefs, markdown
from ..content.posts import load_post
from ..errors import GbaletterError
from ..fsutil import replace_folder
from ..languages import LANGUAGES, UnknownLanguage, normalize_language
from ..textwidth import wrap
from ..translations import format_day, format_number, translations
from ..links import archive_url
from .links import LINKS_FILE, link_table, links_json
from .manifest import Manifest, load_manifest

HTML_TEMPLATE = "email/issue.mjml.j2"
TEXT_TEMPLATE = "email/issue.txt.j2"
BUILD_INFO = "build.json"
GMAIL_CLIP_BYTES = 102 * 1024
WARN_BYTES = 90 * 1024
THUMBNAIL_WIDTH = 220


@dataclass(frozen=True)
class StoryImage:
    """An image as the email shows it: its address at 1x and 2x, the size it is shown at (the
    email's `width`/`height` attributes; `height` is None while the image is not measured) and
    its alt text."""

    src: str
    src_2x: str
    width: int
    height: int | None
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


@dataclass(frozen=True)
class Build:
    issue_id: str
    folder: Path
    html: str
    text: str
    mjml: str
    info: dict
    warnings: list[str]

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))


_MARKERS = frozenset(placeholders.marker(name) for name in placeholders.NAMES)


def _finalize(value: object) -> object:
    """Every `{{ }}` output passes here: content can never smuggle in a send-time placeholder."""
    if not isinstance(value, str) or value in _MARKERS:
        return value
    defused = placeholders.defuse(value)
    return Markup(defused) if isinstance(value, Markup) else defused


def template_environment(templates_dir: Path, language: str = "en") -> jinja2.Environment:
    """Templates from the workspace's folder first, then the defaults shipped in the package,
    with the labels, dates and `html_lang` of `language` (one of gbaletter.languages.LANGUAGES).

    Autoescape is on for everything but `.txt.j2`; undefined names are errors, not blanks.
    The environment (and so its compiled templates) is reused, one per language, until a file in
    the workspace's templates folder is added, removed or changed.
    """
    overrides = tuple(sorted((str(p), p.stat().st_mtime_ns) for p in templates_dir.rglob("*")
                             if p.is_file())) if templates_dir.is_dir() else ()
    return _environment(templates_dir, overrides, language)


def _strong(value: object) -> Markup:
    """A value set in bold inside a translated sentence (escaped like any other)."""
    return Markup("<strong>%s</strong>") % value


@lru_cache(maxsize=16)
def _environment(templates_dir: Path, _overrides: tuple, language: str) -> jinja2.Environment:
    loader = jinja2.ChoiceLoader([
        jinja2.FileSystemLoader(str(templates_dir)),
        jinja2.PackageLoader("gbaletter", "templates"),
    ])
    env = jinja2.Environment(
        loader=loader,
        autoescape=lambda name: not (name or "").endswith(".txt.j2"),
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    # Every label a reader sees is written `{{ _("...") }}` (placeholders as keywords:
    # `_("Issue %(number)s", number=n)`), translated from the language's catalogue (English: as
    # written). A label made in Python (an error on a page, marked N_) is shown `| translate`.
    catalogue = translations(language)
    env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
    env.filters["translate"] = catalogue.gettext
    env.filters["day"] = partial(format_day, language=language)        # 30 June 2019, 2019年6月30日
    env.filters["number"] = partial(format_number, language=language)  # 12,345
    env.filters["wrap"] = wrap  # by display width, Chinese line breaking (gbaletter.textwidth)
    env.globals.update(html_lang=LANGUAGES[language].html_lang, strong=_strong)
    return env


def _template_error(exc: Exception) -> GbaletterError:
    """`template:line: message` for syntax errors and for errors raised while rendering."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = exc.filename or exc.name or "template"
        return GbaletterError(f"{where}:{exc.lineno}: template syntax error: {exc.message}")
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "template"
    return GbaletterError(f"{where}: template error: {exc}")


def _render(env: jinja2.Environment, name: str, context: dict) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise GbaletterError(f"template '{exc.name}' not found in the workspace's templates "
                             "folder or the package defaults") from None
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError) as exc:
        raise _template_error(exc) from None


def _edition_problems(ws: Workspace, post: Post, key: str) -> list[str]:
    """A referenced post must be an original (its translations come with it) in a desk language."""
    where = ws.display(post.path)
    if post.translation_of:
        return [f"{where}: is a translation of '{post.translation_of}'; list the original in '{key}'"]
    if post.lang:
        try:
            normalize_language(post.lang, ws.config.newsletter.languages)
        except UnknownLanguage as exc:
            return [f"{where}: 'lang': {exc}"]
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
    if problems:
        raise GbaletterError("\n".join(problems))
    return Contents([posts[r] for r in manifest.featured], [posts[r] for r in manifest.posts],
                    [briefs[r] for r in manifest.briefs])


def _post_view(post: Post, ws: Workspace) -> PostView:
    return PostView(slug=post.slug, title=post.title, url=post.url, excerpt=post.excerpt,
                    date_label=format_day(post.date.astimezone(ws.tz), ws.config.newsletter.language),
                    tags=post.tags,
                    image=StoryImage(post.image, post.image, THUMBNAIL_WIDTH, None, post.image_alt)
                    if post.image else None)


def issue_context(ws: Workspace, manifest: Manifest, contents: Contents) -> dict:
    """Everything the templates see, placeholders included."""
    news = ws.config.newsletter
    intro_html = markdown.to_html(manifest.intro) if manifest.intro else ""
    return {
        "newsletter": news,
        "issue": {"id": manifest.id, "number": manifest.number, "subject": manifest.subject,
                  "preheader": manifest.preheader,
                  "date_label": format_day(manifest.date, news.language)},
        "intro_html": Markup(intro_html),
        "intro_text": "\n\n".join(markdown.html_to_text(p) for p in intro_html.split("</p>") if p.strip()),
        "featured": [_post_view(p, ws) for p in contents.featured],
        "posts": [_post_view(p, ws) for p in contents.posts],
        "briefs": contents.briefs,
        "site_host": urlsplit(news.base_url).hostname or news.base_url,
        "archive_url": archive_url(ws),
        **{name: Markup(placeholders.marker(name)) for name in placeholders.TEMPLATE_NAMES},
    }


@lru_cache(maxsize=1)
def _quiet_cssutils() -> None:
    """cssutils reports every vendor property (mso-*, -ms-*) on stderr; editors need none of it."""
    import cssutils

    cssutils.log.setLevel(logging.CRITICAL)


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
    _quiet_cssutils()
    html = _leave_mjml_styles_alone(html)
    inliner = Premailer(
        html,
        allow_network=False,          # MJML may link font CSS; never fetch anything while building
        strip_important=False,        # the @media rules that stack columns on phones need it
        keep_style_tags=True,         # @media and dark-mode rules can only live in <style>
        remove_classes=False,         # the kept rules select by class
        cache_css_parsing=True,
        disable_validation=True,
        disable_basic_attributes=["width", "height"],  # keep MJML's pixel widths for Outlook
        cssutils_logging_level=logging.CRITICAL,
    )
    inlined = inliner.transform(pretty_print=False).replace(' data-premailer="ignore"', "")
    if not inlined.lstrip().lower().startswith("<!doctype"):
        inlined = "<!doctype html>\n" + inlined  # premailer drops MRML's lowercase doctype
    return inlined


def compile_mjml(source: str, template: str = HTML_TEMPLATE) -> str:
    try:
        return mjml.mjml2html(source, fonts={}, disable_comments=True)
    except ValueError as exc:
        raise GbaletterError(f"{template}: invalid MJML: {exc}") from None


# The settings a build is made from; the others ([smtp], [database], ...) may change without
# making a build stale (a new relay or concurrency must not force a rebuild before a send).
BUILD_SETTINGS = ("newsletter", "paths")


def inputs_digest(ws: Workspace, manifest: Manifest, contents: Contents) -> str:
    """A hash of everything a build is made from: manifest, referenced content, templates and the
    settings in BUILD_SETTINGS."""
    files = {manifest.path, *contents.files}
    if ws.templates_dir.is_dir():
        files.update(p for p in ws.templates_dir.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    settings = {name: dataclasses.asdict(getattr(ws.config, name)) for name in BUILD_SETTINGS}
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in sorted(p for p in files if p is not None):
        digest.update(str(path.relative_to(ws.root) if path.is_relative_to(ws.root) else path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def render_issue(ws: Workspace, manifest: Manifest, contents: Contents) -> tuple[str, str, str]:
    """(mjml, html, text) for a manifest, nothing written."""
    env = template_environment(ws.templates_dir, ws.config.newsletter.language)
    context = issue_context(ws, manifest, contents)
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


def build_issue(ws: Workspace, issue_id: str, force: bool = False) -> Build:
    """Render issue `issue_id` and replace its build folder as a whole."""
    manifest = load_manifest(ws, issue_id)
    contents = resolve(ws, manifest)
    source, html, text = render_issue(ws, manifest, contents)
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
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": inputs_digest(ws, manifest, contents),
        "html_bytes": len(html.encode("utf-8")),
        "text_bytes": len(text.encode("utf-8")),
    }
    intro_html = markdown.to_html(manifest.intro) if manifest.intro else ""
    links = link_table(ws, contents, html, text, intro_html)
    folder = ws.issue_dir(issue_id) / "build"
    replace_folder(folder, {"email.mjml": source, "email.html": html, "email.txt": text,
                            LINKS_FILE: links_json(links), BUILD_INFO: json.dumps(info, indent=2) + "\n"})
    return Build(issue_id, folder, html, text, source, info, warnings)

