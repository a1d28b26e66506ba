"""The workspace and its `gbaletter.toml`.

A workspace is a folder holding `gbaletter.toml`, the content (`posts/`, `briefs/`), the issues
(`issues/<ID>/`), the templates and the subscriber database. The file is validated strictly: an
unknown key or a wrong type is reported with its name, because a typo in a mail setting should
never be silently ignored. Secrets are never read from the file, only from the environment, which
the workspace's git-ignored `.env` fills in where it is not set (`read_env_file`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import GbaletterError, at_line, line_of
from .languages import OPENCC_TO, UnknownLanguage, check_languages, normalize_language

CONFIG_NAME = "gbaletter.toml"
ROOT_ENV = "GBALETTER_ROOT"
ENV_FILE = ".env"  # the workspace's secrets (git-ignored); the environment wins over it
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# The settings below are records, read and never compared (a hash by value failed anyway on their
# lists and tables) nor printed: `eq=False, repr=False`. Python 3.11 compiles every method a
# dataclass generates from source in each process, and every command loads this module: the
# __eq__, __hash__ and __repr__ of these 16 classes were 24 M instructions of each run (of ~300 M
# for a `--help`). `frozen` stays: no code may change a setting once read.


@dataclass(frozen=True, eq=False, repr=False)
class NewsletterSettings:
    name: str = "Newsletter"
    tagline: str = ""  # the masthead's one-line promise, under the name
    sender: str = "Newsletter <newsletter@example.org>"
    reply_to: str = ""
    base_url: str = "https://example.org/newsletter"
    postal_address: str = ""
    timezone: str = "Asia/Hong_Kong"
    # BCP 47 tags out of gbaletter.languages.LANGUAGES; the first is the default (docs/editions.md)
    languages: list[str] = field(default_factory=lambda: ["en"])
    default_tags: list[str] = field(default_factory=list)
    featured_count: int = 3
    list_id: str = ""
    name_fallback: str = "reader"  # translations.DEFAULT_NAME_FALLBACK, through each edition's catalogue
    welcome_email: bool = False  # send templates/web/welcome_email.* once a sign-up is confirmed

    @property
    def language(self) -> str:
        """The desk's default language: the first of `languages`."""
        return self.languages[0]


@dataclass(frozen=True, eq=False, repr=False)
class SectionSettings:
    """`[sections]`: the headings of the issue's own sections, as the desk names them. Empty: the
    template's default label (translated with the email's other labels)."""

    contents: str = ""   # the list of the featured headlines at the top ("In this issue")
    featured: str = ""   # the featured stories, the first of them the lead ("Top stories")
    posts: str = ""      # the other stories ("Also this week")
    briefs: str = ""     # the brief items ("In brief")


@dataclass(frozen=True, eq=False, repr=False)
class PathSettings:
    posts: str = "posts"
    briefs: str = "briefs"
    issues: str = "issues"
    templates: str = "templates"


@dataclass(frozen=True, eq=False, repr=False)
class DatabaseSettings:
    url: str = "sqlite:///subscribers/gbaletter.db"


@dataclass(frozen=True, eq=False, repr=False)
class SmtpSettings:
    host: str = "localhost"
    port: int = 587
    tls: str = "starttls"
    username: str = ""
    envelope_sender: str = ""
    concurrency: int = 8
    rate: float = 0.0
    timeout: float = 30.0
    max_attempts: int = 3
    # the circuit breaker (docs/outcomes.md): this many recipients in a row refused with the same
    # permanent reply stop the send; this many temporary failures in a row pause all of it
    breaker: int = 20
    relay_backoff: float = 30.0       # the first pause of the whole send, doubling each time
    relay_backoff_max: float = 900.0  # pausing longer than this in one run stops the send
    # several senders on one send: the rows a worker claimed are its own this long past its last
    # heartbeat (renewed every third of it); a killed worker's rows go back after this
    lease: float = 60.0


@dataclass(frozen=True, eq=False, repr=False)
class DkimSettings:
    domain: str = ""
    selector: str = ""
    key_file: str = ""


@dataclass(frozen=True, eq=False, repr=False)
class ImportSettings:
    briefs_tags: list[str] = field(default_factory=lambda: ["briefs"])
    briefs_title_pattern: str = r"^GBA Briefs:"


@dataclass(frozen=True, eq=False, repr=False)
class ScheduleSettings:
    late_window: str = "2h"   # a schedule found later than this after its time is reported, not sent
    poll_interval: str = "30s"  # how often the long-running `gbaletter scheduler` looks

    @property
    def late_window_seconds(self) -> float:
        return parse_duration(self.late_window)

    @property
    def poll_interval_seconds(self) -> float:
        return parse_duration(self.poll_interval)


@dataclass(frozen=True, eq=False, repr=False)
class BouncesSettings:
    """`[bounces]`: where bounces, complaints and mailed unsubscribes arrive, and the policy
    (docs/bounces.md). The IMAP password comes from GBALETTER_BOUNCES_PASSWORD only."""

    verp: bool = True                  # envelope sender bounces+<token>@domain, one per message
    source: str = ""                   # "maildir" or "imap"
    path: str = ""                     # the Maildir (relative to the workspace or absolute)
    host: str = ""                     # IMAP over TLS
    port: int = 993
    user: str = ""
    folder: str = "INBOX"
    processed_folder: str = "Processed"  # where understood messages are moved
    soft_bounce_limit: int = 3         # this many issues with a soft bounce ...
    soft_bounce_issues: int = 5        # ... among the subscriber's last this many issues ...
    soft_bounce_days: int = 90         # ... all within this many days (0: no day limit)
    max_message_bytes: int = 2_000_000
    max_parts: int = 200
    max_depth: int = 8
    poll_seconds: float = 60.0         # --watch on a Maildir (IMAP uses IDLE)


@dataclass(frozen=True, eq=False, repr=False)
class WebSettings:
    # Peers whose X-Forwarded-Proto, -Host and -For headers `gbaletter serve` believes: the reverse
    # proxy in front of it (addresses or networks). Anyone else could claim any client and scheme.
    trusted_proxies: list[str] = field(default_factory=lambda: ["127.0.0.1", "::1"])
    # The subscribe form's caps on confirmation emails, each per hour (docs/security.md): per
    # client network (/24 IPv4, /56 IPv6), per mailbox (plus-addresses and, per domain, dots
    # counted as one) and for the whole list.
    confirmations_per_network: int = 5
    confirmations_per_mailbox: int = 3
    confirmations_per_hour: int = 100
    # ALTCHA proof-of-work: the largest number a browser may have to try (0 turns it off)
    proof_of_work: int = 100_000
    # a file of disposable-mail domains, one a line, whose addresses get no confirmation email
    blocked_domains_file: str = ""
    # the desk's own sites ("https://desk.example.org"): they may frame the /embed form, and a
    # sign-up posted from them may ask to be sent back to a page there (`return_to`)
    embed_origins: list[str] = field(default_factory=list)


@dataclass(frozen=True, eq=False, repr=False)
class TrackingSettings:
    """Click and open tracking; docs/tracking.md says what each setting stores and for how long."""

    clicks: str = "on"          # "on": links go through <base_url>/c/...; "off": original URLs
    opens: bool = False         # a 1x1 image per message (opt-in: Apple MPP makes it unreliable)
    mode: str = "aggregate"     # or "per-subscriber": keep who clicked what past the window
    window_days: int = 30       # the issue's reporting window


@dataclass(frozen=True, eq=False, repr=False)
class FetchSettings:
    """`[fetch]`: every download (a feed URL, a post's image); docs/images.md."""

    # private, loopback or link-local networks a download may reach anyway (a desk's intranet)
    allow_networks: list[str] = field(default_factory=list)
    deadline: float = 30.0        # seconds for a whole download, redirects and slow servers included
    max_bytes: int = 20_000_000   # a longer body is refused, not read


@dataclass(frozen=True, eq=False, repr=False)
class ImageSettings:
    """`[images]`: where the resized images of a build are published; docs/images.md."""

    folder: str = ""    # also write them here (static hosting elsewhere); empty: `serve` serves them
    base_url: str = ""  # their address when `folder` is published elsewhere; empty: <base_url>/images


@dataclass(frozen=True, eq=False, repr=False)
class EditionsSettings:
    """`[editions]`: deriving one Chinese script from the other (docs/editions.md)."""

    glossary: str = "glossary.yaml"  # the desk's own spellings, applied before OpenCC
    to_hans: str = "hk2s"            # OpenCC configuration writing Simplified from Traditional
    to_hant: str = "s2hk"            # ... and Traditional from Simplified (s2twp: Taiwan usage)


@dataclass(frozen=True, eq=False, repr=False)
class Config:
    newsletter: NewsletterSettings = field(default_factory=NewsletterSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    dkim: DkimSettings = field(default_factory=DkimSettings)
    imports: ImportSettings = field(default_factory=ImportSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    bounces: BouncesSettings = field(default_factory=BouncesSettings)
    web: WebSettings = field(default_factory=WebSettings)
    sections: SectionSettings = field(default_factory=SectionSettings)
    # `[kickers]`: tag -> the editorial section a story is labelled with above its headline; a
    # story takes the first entry, in the file's order, whose tag it carries (docs/design.md)
    kickers: dict[str, str] = field(default_factory=dict)
    # `[topics]`: the tags a reader may choose on the subscribe form and their preference page,
    # each with its name in every desk language (tag -> language -> name); the other tags are the
    # desk's own
    topics: dict[str, dict[str, str]] = field(default_factory=dict)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    images: ImageSettings = field(default_factory=ImageSettings)
    editions: EditionsSettings = field(default_factory=EditionsSettings)

    @property
    def offered_topics(self) -> list[str]:
        """The tags readers choose from (sign-up form, preferences page). A desk without
        `[topics]` offers its `default_tags`, as the form did before topics had names: else its
        sign-ups would carry no tag at all, and a `tag:` segment would never reach them."""
        return list(self.topics) or list(self.newsletter.default_tags)

    def topic_names(self, language: str) -> dict[str, str]:
        """The offered topics, tag -> name in `language` (a language the desk no longer writes,
        a reader's stored one: the default's names; a topic without names: its tag)."""
        default = self.newsletter.language
        return {tag: self.topics[tag].get(language, self.topics[tag][default]) if tag in self.topics else tag
                for tag in self.offered_topics}


# TOML section name -> attribute of Config ("import" is a Python keyword).
_SECTIONS = {"newsletter": "newsletter", "paths": "paths", "database": "database",
             "smtp": "smtp", "dkim": "dkim", "import": "imports", "schedule": "schedule", "web": "web",
             "bounces": "bounces", "tracking": "tracking", "sections": "sections",
             "kickers": "kickers",
             "topics": "topics", "fetch": "fetch", "images": "images", "editions": "editions"}

_SECRET_KEYS = {"password", "secret", "dkim_key", "private_key"}

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as "90s", "15m", "2h" or "1h30m"; ValueError when it is none."""
    compact = text.replace(" ", "").lower()
    parts = _DURATION.findall(compact)
    if not parts or "".join(number + unit for number, unit in parts) != compact:
        raise ValueError(f"not a duration like 90s, 15m, 2h or 1h30m: {text!r}")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _type_name(tp: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, "a list of strings")


def _check_value(where: str, tp: Any, value: object) -> object:
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typing.get_origin(tp) is list:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    elif isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise GbaletterError(f"{where} must be {_type_name(tp)}, not {value!r}")


def _build_section(cls: type, table: object, where: str) -> object:
    if not isinstance(table, dict):
        raise GbaletterError(f"{where} must be a table ([{where.split(' ')[-1]}])")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in table.items():
        if key in _SECRET_KEYS:
            raise GbaletterError(f"{where}: '{key}' must not be stored in the file; "
                                 "set it in the environment (see README)")
        if key not in known:
            raise GbaletterError(f"{where}: unknown key '{key}' (known: {', '.join(sorted(known))})")
        values[key] = _check_value(f"{where}: '{key}'", hints[key], value)
    return cls(**values)


def _kickers(table: object, where: str) -> dict[str, str]:
    """`[kickers]`: any tag as a key, a section name as its value; tags compared in lower case."""
    if not isinstance(table, dict):
        raise GbaletterError(f"{where} must be a table of tag = \"Section name\"")
    kickers = {}
    for tag, name in table.items():
        if not isinstance(name, str) or not name.strip():
            raise GbaletterError(f"{where}: '{tag}' must be a section name (text), not {name!r}")
        kickers[tag.lower()] = name.strip()
    return kickers


def parse_config(text: str, source: str = CONFIG_NAME) -> Config:
    """Parse and validate the text of a `gbaletter.toml`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GbaletterError(f"{source}: {exc}") from None
    sections: dict[str, Any] = {}
    hints = typing.get_type_hints(Config)
    for name, table in data.items():
        if name not in _SECTIONS:
            raise GbaletterError(f"{source}: unknown section [{name}] (known: {', '.join(_SECTIONS)})")
        if name == "topics":
            continue  # read once the desk's languages are known, below
        attr = _SECTIONS[name]
        if attr == "kickers":
            sections[attr] = _kickers(table, f"{source} [{name}]")
            continue
        if name == "newsletter" and isinstance(table, dict):
            table = _languages_key(table, f"{source} [newsletter]")
        sections[attr] = _build_section(hints[attr], table, f"{source} [{name}]")
    config = Config(**sections)
    _check_semantics(config, source, text)
    if "topics" in data:
        config = dataclasses.replace(config, topics=_topics(data["topics"], config.newsletter.languages,
                                                            source, text))
    return config


def _topics(table: object, languages: list[str], source: str, text: str) -> dict[str, dict[str, str]]:
    """tag -> language -> name, for every desk language. A tag as stored (lower-case) names its
    topic in one line: one name for every language, or a table of a name per language (any
    spelling of `languages.normalize_language`), which must name each of the desk's."""
    after = line_of(text, r"\[topics\]")
    if not isinstance(table, dict):
        raise GbaletterError(f"{at_line(source, after)} [topics] must be a table of tag = \"Name\"")
    topics = {}
    for tag, value in table.items():
        line = line_of(text, re.escape(tag) + r"\s*=", after=after)
        where = f"{at_line(source, line)} [topics]: '{tag}'"
        if tag != tag.strip().lower() or "," in tag:
            raise GbaletterError(f"{where} is not a tag as stored (lower-case, no commas)")
        names = {}
        for language, name in (value.items() if isinstance(value, dict) else ((lang, value) for lang in languages)):
            if not isinstance(name, str) or not name.strip() or "\n" in name:
                raise GbaletterError(f"{where} must be a one-line name, or a table of one per language "
                                     f"(en = \"...\"), not {name!r}")
            try:
                named = normalize_language(language, languages)
            except UnknownLanguage as exc:
                raise GbaletterError(f"{where}: {exc}") from None
            if named in names:
                raise GbaletterError(f"{where} names {named} twice ({language})")
            names[named] = name.strip()
        missing = [language for language in languages if language not in names]
        if missing:
            raise GbaletterError(f"{where} has no name in {', '.join(missing)}")
        topics[tag] = names
    return topics


def _languages_key(table: dict[str, Any], where: str) -> dict[str, Any]:
    """`language = "en"` (one language, before editions) is read as `languages = ["en"]`."""
    if "language" not in table:
        return table
    if "languages" in table:
        raise GbaletterError(f"{where}: 'language' and 'languages' both set; keep 'languages'")
    table = dict(table)
    table["languages"] = [_check_value(f"{where}: 'language'", str, table.pop("language"))]
    return table


def _check_semantics(config: Config, source: str, text: str) -> None:
    try:
        check_languages(config.newsletter.languages)
    except UnknownLanguage as exc:
        line = line_of(text, r"languages?\s*=", after=line_of(text, r"\[newsletter\]"))
        raise GbaletterError(f"{at_line(source, line)} [newsletter]: 'languages': {exc}") from None
    try:
        ZoneInfo(config.newsletter.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise GbaletterError(f"{source} [newsletter]: unknown timezone "
                             f"'{config.newsletter.timezone}'") from None
    base = urlsplit(config.newsletter.base_url)
    if base.scheme not in ("http", "https") or not base.hostname or base.query or base.fragment:
        raise GbaletterError(f"{source} [newsletter]: 'base_url' must be an http(s) address with a "
                             f"host and no query, like https://example.org/newsletter, not "
                             f"'{config.newsletter.base_url}'")
    if config.smtp.tls not in ("starttls", "tls", "none"):
        raise GbaletterError(f"{source} [smtp]: 'tls' must be starttls, tls or none, "
                             f"not '{config.smtp.tls}'")
    if config.smtp.concurrency < 1:
        raise GbaletterError(f"{source} [smtp]: 'concurrency' must be at least 1")
    if config.smtp.max_attempts < 1:
        raise GbaletterError(f"{source} [smtp]: 'max_attempts' must be at least 1")
    if config.smtp.breaker < 0:
        raise GbaletterError(f"{source} [smtp]: 'breaker' must be 0 (off) or more")
    for key in ("timeout", "relay_backoff", "relay_backoff_max", "lease"):
        if getattr(config.smtp, key) <= 0:
            raise GbaletterError(f"{source} [smtp]: '{key}' must be more than 0 seconds")
    for key in ("late_window", "poll_interval"):
        try:
            seconds = parse_duration(getattr(config.schedule, key))
        except ValueError as exc:
            raise GbaletterError(f"{source} [schedule]: '{key}' is {exc}") from None
        if seconds <= 0:
            raise GbaletterError(f"{source} [schedule]: '{key}' must be longer than 0")
    _check_networks(config.web.trusted_proxies, f"{source} [web]: 'trusted_proxies'")
    for key in ("confirmations_per_network", "confirmations_per_mailbox", "confirmations_per_hour",
                "proof_of_work"):
        if getattr(config.web, key) < 0:
            raise GbaletterError(f"{source} [web]: '{key}' must be 0 or more")
    for allowed in config.web.embed_origins:
        parts = urlsplit(allowed)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query \
                or parts.fragment or "@" in parts.netloc or allowed != allowed.strip():
            raise GbaletterError(f"{source} [web]: 'embed_origins' must list origins like "
                                 f"https://desk.example.org (no path), not '{allowed}'")
    tracking = config.tracking
    if tracking.clicks not in ("on", "off"):
        raise GbaletterError(f"{source} [tracking]: 'clicks' must be on or off, not '{tracking.clicks}'")
    if tracking.mode not in ("aggregate", "per-subscriber"):
        raise GbaletterError(f"{source} [tracking]: 'mode' must be aggregate or per-subscriber, "
                             f"not '{tracking.mode}'")
    if tracking.window_days < 1:
        raise GbaletterError(f"{source} [tracking]: 'window_days' must be at least 1")
    _check_bounces(config.bounces, f"{source} [bounces]")
    _check_fetch(config, source)
    for key, script in (("to_hans", "zh-Hans"), ("to_hant", "zh-Hant")):
        if getattr(config.editions, key) not in OPENCC_TO[script]:
            raise GbaletterError(f"{source} [editions]: '{key}' must be one of "
                                 f"{', '.join(OPENCC_TO[script])}, not '{getattr(config.editions, key)}'")


def _check_networks(values: list[str], where: str) -> None:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise GbaletterError(f"{where} must list IP addresses or networks (e.g. 10.0.0.0/8), "
                                 f"not '{value}'") from None


def _check_fetch(config: Config, source: str) -> None:
    _check_networks(config.fetch.allow_networks, f"{source} [fetch]: 'allow_networks'")
    if config.fetch.deadline <= 0 or config.fetch.max_bytes < 1:
        raise GbaletterError(f"{source} [fetch]: 'deadline' and 'max_bytes' must be more than 0")
    images = config.images
    if images.folder and not images.base_url:
        raise GbaletterError(f"{source} [images]: 'folder' needs 'base_url', the address it is "
                             "published at")
    if images.base_url and urlsplit(images.base_url).scheme not in ("http", "https"):
        raise GbaletterError(f"{source} [images]: 'base_url' must be an http(s) address, not "
                             f"'{images.base_url}'")


def _check_bounces(bounces: BouncesSettings, where: str) -> None:
    if bounces.source not in ("", "maildir", "imap"):
        raise GbaletterError(f"{where}: 'source' must be maildir or imap, not '{bounces.source}'")
    if bounces.source == "maildir" and not bounces.path:
        raise GbaletterError(f"{where}: source = \"maildir\" needs 'path' (the Maildir folder)")
    if bounces.source == "imap" and not (bounces.host and bounces.user):
        raise GbaletterError(f"{where}: source = \"imap\" needs 'host' and 'user' "
                             "(the password comes from GBALETTER_BOUNCES_PASSWORD)")
    for key in ("soft_bounce_limit", "soft_bounce_issues", "max_message_bytes", "max_parts",
                "max_depth", "port"):
        if getattr(bounces, key) < 1:
            raise GbaletterError(f"{where}: '{key}' must be at least 1")
    if bounces.soft_bounce_days < 0 or bounces.poll_seconds <= 0:
        raise GbaletterError(f"{where}: 'soft_bounce_days' must be 0 or more and 'poll_seconds' "
                             "more than 0")
    if bounces.soft_bounce_limit > bounces.soft_bounce_issues:
        raise GbaletterError(f"{where}: 'soft_bounce_limit' ({bounces.soft_bounce_limit}) cannot be "
                             f"more than 'soft_bounce_issues' ({bounces.soft_bounce_issues})")
    if not bounces.processed_folder or "/" in bounces.processed_folder:
        raise GbaletterError(f"{where}: 'processed_folder' must be a folder name without '/'")


@dataclass(frozen=True, eq=False, repr=False)
class Workspace:
    """A workspace folder and its settings; every path the tool uses comes from here."""

    root: Path
    config: Config

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.newsletter.timezone)

    def _path(self, value: str) -> Path:
        return (self.root / value).resolve()

    @property
    def posts_dir(self) -> Path:
        return self._path(self.config.paths.posts)

    @property
    def briefs_dir(self) -> Path:
        return self._path(self.config.paths.briefs)

    @property
    def issues_dir(self) -> Path:
        return self._path(self.config.paths.issues)

    @property
    def templates_dir(self) -> Path:
        return self._path(self.config.paths.templates)

    @property
    def cache_dir(self) -> Path:
        """Downloads kept between builds (git-ignored): `cache/` in the workspace."""
        return self.root / "cache"

    def issue_dir(self, issue_id: str) -> Path:
        return self.issues_dir / issue_id

    @property
    def glossary_path(self) -> Path:
        return self._path(self.config.editions.glossary)

    @property
    def database_url(self) -> str:
        """The database URL; a relative SQLite path is taken relative to the workspace."""
        url = os.environ.get("GBALETTER_DATABASE_URL") or self.config.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.root / url[len(prefix):])
        return url

    def display(self, path: Path) -> str:
        """A path as the user should see it: relative to the workspace when inside it."""
        try:
            return str(Path(path).resolve().relative_to(self.root))
        except ValueError:
            return str(path)


def find_root(start: Path | None = None) -> Path:
    """The workspace root: `GBALETTER_ROOT`, else the nearest folder up holding gbaletter.toml."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    raise GbaletterError(f"no {CONFIG_NAME} here or in any parent folder; "
                         f"run from a workspace or pass --root DIR")


def read_env_file(root: Path) -> None:
    """Put the `NAME=value` lines of the workspace's `.env` (written by `gbaletter init`, ignored by
    git) into the environment, each only where the environment does not set it already: so the
    secret need not be exported in every shell, and a deployment's own environment still wins."""
    path = root / ENV_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as exc:
        raise GbaletterError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.removeprefix("export ").partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not _ENV_NAME.fullmatch(name):
            raise GbaletterError(f"{path}:{number}: expected NAME=value")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(name, value)


def load_workspace(root: Path | None = None) -> Workspace:
    """Open the workspace at `root` (or the one found from the current folder), its `.env` too."""
    root = Path(root).resolve() if root else find_root()
    read_env_file(root)
    path = root / CONFIG_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GbaletterError(f"{path}: no such file (is {root} a gbaletter workspace?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GbaletterError(f"{path}: cannot read: {exc}") from None
    return Workspace(root=root, config=parse_config(text, CONFIG_NAME))



# Values that only stand in for real ones: the reserved example domains and top-level domains
# (RFC 2606, RFC 6761) and the sample's postal address. Mail with them must not reach people.
RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
RESERVED_TLDS = ("test", "invalid", "example", "localhost")
SAMPLE_POSTAL_ADDRESS = "1 Example Road, Hong Kong"


def is_reserved_domain(domain: str) -> bool:
    """Whether `domain` is, or is under, a domain reserved for examples and tests."""
    name = domain.strip().rstrip(".").lower()
    return (name.rpartition(".")[2] in RESERVED_TLDS
            or any(name == reserved or name.endswith("." + reserved) for reserved in RESERVED_DOMAINS))


def placeholder_settings(config: Config) -> list[str]:
    """The settings that still hold a placeholder, one line each naming the setting and value
    (empty when none does). `doctor` lists them; a send through a real relay refuses them."""
    news, found = config.newsletter, []
    addresses = {"sender": news.sender, "reply_to": news.reply_to}
    for key, value in addresses.items():
        domain = value.rpartition("@")[2].strip(" >")
        if value and is_reserved_domain(domain):
            found.append(f"[newsletter] {key} = '{value}' is on the reserved example domain {domain}")
    envelope = config.smtp.envelope_sender
    if envelope and is_reserved_domain(envelope.rpartition("@")[2]):
        found.append(f"[smtp] envelope_sender = '{envelope}' is on the reserved example domain "
                     f"{envelope.rpartition('@')[2]}")
    host = urlsplit(news.base_url).hostname or ""
    if is_reserved_domain(host):
        found.append(f"[newsletter] base_url = '{news.base_url}' is on the reserved example domain {host}")
    if news.list_id and is_reserved_domain(news.list_id):
        found.append(f"[newsletter] list_id = '{news.list_id}' is under a reserved example domain")
    if news.postal_address.strip() == SAMPLE_POSTAL_ADDRESS:
        found.append(f"[newsletter] postal_address = '{news.postal_address}' is the sample's address")
    return found
