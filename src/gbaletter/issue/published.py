"""What of an issue the public sees: the copy of the build kept when its send starts (what the
archive shows, whatever is rebuilt later), and the image files `serve` answers.

`issues/<ID>/sent/` holds what the archive reads: email.html, each edition's email.<language>.html
on a desk with several languages, images/, links.json (the email's order of links, for the
report), build.json (the greeting's word for a reader without a name) and `archive.json` (subject,
preheader, number, date, when the send started, the lead image, each edition's subject and
preheader): written once, all at once, by the first send of the issue; a later send, a resumed one
or a rebuild leaves it as it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from ..config import Workspace
from ..errors import GbaletterError
from ..fsutil import create_folder
from ..links import image_url
from .links import LINKS_FILE, read_links
from .recorded import BUILD_INFO, IMAGES_INFO, edition_file, read_info, recorded_name_fallback

SENT = "sent"
ARCHIVE_INFO = "archive.json"
_KEPT = ("email.html", BUILD_INFO, LINKS_FILE)
IMAGE_NAME = re.compile(r"^[0-9a-f]{24}\.(jpg|png)$")


@dataclass(frozen=True)
class SentEdition:
    """One edition of a sent issue: its language, subject, preheader, file in the copy and the
    greeting's word for a reader without a name."""

    language: str
    subject: str
    preheader: str
    file: str  # email.zh-Hant.html
    name_fallback: str


@dataclass(frozen=True)
class SentCopy:
    """An issue as it was sent (its archive.json, and the folder it sits in)."""

    issue_id: str
    folder: Path
    number: int
    subject: str
    preheader: str
    date: date
    sent_at: datetime
    image: str  # the lead image's address ('' when the issue has none)
    name_fallback: str  # the greeting's word for a reader without a name (the default language's)
    # each edition, the default language's first; none when the issue had one email (a desk with
    # one language, or a copy kept before editions)
    editions: tuple[SentEdition, ...] = ()

    @property
    def html_path(self) -> Path:
        return self.folder / "email.html"


def sent_folder(ws: Workspace, issue_id: str) -> Path:
    return ws.issue_dir(issue_id) / SENT


def _lead_image(ws: Workspace, build: Path) -> str:
    try:
        images = json.loads((build / IMAGES_INFO).read_text(encoding="utf-8"))
        return image_url(ws, images[0]["files"][-1]) if images else ""
    except (OSError, ValueError, LookupError, TypeError):
        return ""


def _description(ws: Workspace, issue_id: str, info: dict) -> dict:
    """Number, subject, preheader and date of the build, from its build.json (so that a send, which
    makes the copy, reads no manifest and loads no content parser); a build by an older gbaletter
    lacks some of them, and the manifest (which the send's freshness gate found unchanged) says."""
    keys = ("number", "subject", "preheader", "date")
    if all(key in info for key in keys):
        return {key: info[key] for key in keys}
    from .manifest import load_manifest

    manifest = load_manifest(ws, issue_id)
    return {"number": manifest.number, "subject": manifest.subject, "preheader": manifest.preheader,
            "date": manifest.date.isoformat()}


def _editions(info: dict) -> dict[str, dict[str, str]]:
    """Each edition's subject and preheader, from build.json `editions` (a build made before
    build.json gave an edition's preheader: none)."""
    editions = info.get("editions")
    if not isinstance(editions, dict):
        return {}
    return {language: {"subject": str(edition.get("subject", "")), "preheader": str(edition.get("preheader", ""))}
            for language, edition in editions.items() if isinstance(edition, dict)}


def keep_sent_copy(ws: Workspace, issue_id: str) -> bool:
    """Copy the build to `sent/` unless an earlier send did; True when this call made the copy.
    Several workers starting the same send at once make one copy: the first to finish it wins."""
    target = sent_folder(ws, issue_id)
    if target.exists():
        return False
    build = ws.issue_dir(issue_id) / "build"
    built = read_info(build) or {}
    described = _description(ws, issue_id, built)
    editions = _editions(built)
    files: dict[str, str | bytes] = {}
    try:
        for name in _KEPT:
            if (build / name).is_file():
                files[name] = (build / name).read_bytes()
        for language in editions:  # each edition's, all there (the send's gate read them)
            files[edition_file("email.html", language)] = (build / edition_file("email.html", language)).read_bytes()
        for path in sorted((build / "images").glob("*")) if (build / "images").is_dir() else ():
            files[f"images/{path.name}"] = path.read_bytes()
    except OSError as exc:
        raise GbaletterError(f"{ws.display(build)}: cannot keep a copy for the archive: {exc}") from None
    info = {"issue": issue_id, **described,
            "sent_at": datetime.now(UTC).isoformat(timespec="seconds"), "image": _lead_image(ws, build),
            **({"editions": editions} if editions else {})}
    files[ARCHIVE_INFO] = json.dumps(info, indent=2, ensure_ascii=False) + "\n"
    # all or nothing: a crash leaves no copy (the next send makes it), a race leaves the winner's
    return create_folder(target, files)


def read_sent_copy(ws: Workspace, issue_id: str) -> SentCopy | None:
    """The sent copy of `issue_id`, None when there is none (not sent, or sent before copies were
    kept) or it cannot be read. The greeting's words are the ones the send used: its build.json's."""
    folder = sent_folder(ws, issue_id)
    try:
        data = json.loads((folder / ARCHIVE_INFO).read_text(encoding="utf-8"))
        built = read_info(folder) or {}
        default = ws.config.newsletter.name_fallback
        editions = tuple(SentEdition(language, str(edition["subject"]), str(edition["preheader"]),
                                     edition_file("email.html", language),
                                     recorded_name_fallback(built, language, default))
                         for language, edition in data.get("editions", {}).items())
        return SentCopy(issue_id, folder, int(data["number"]), str(data["subject"]),
                        str(data["preheader"]), date.fromisoformat(data["date"]),
                        datetime.fromisoformat(data["sent_at"]), str(data.get("image", "")),
                        recorded_name_fallback(built, "", default), editions)
    except (OSError, ValueError, LookupError, TypeError, AttributeError):
        return None


def find_image(ws: Workspace, name: str) -> Path | None:
    """The image file `name` from any issue's sent copy or build (names are content hashes: the
    same name is the same file wherever it is found); None for any other name."""
    if not IMAGE_NAME.match(name) or not ws.issues_dir.is_dir():
        return None
    for folder in (SENT, "build"):
        for path in ws.issues_dir.glob(f"*/{folder}/images/{name}"):
            return path
    return None


def email_link_order(ws: Workspace, issue_id: str) -> list[str]:
    """The tracked links' ids in the order the email shows them, as it was sent (its build's when
    no copy was kept); empty when neither has a link table."""
    for folder in (sent_folder(ws, issue_id), ws.issue_dir(issue_id) / "build"):
        try:
            return [link.id for link in read_links(folder)]
        except GbaletterError:
            continue
    return []
