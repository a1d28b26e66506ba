"""The posts' images as the email shows them: fetched once, resized, re-encoded, cached.

A post's `image` is an http(s) URL (usually the website's upload, imported from the feed) or a
file in the workspace (`images/port.jpg`). At build each is
- fetched once through `gbaletter.fetch` (its guards: deadline, size cap, no private addresses)
  and kept by URL in `cache/images/` (git-ignored), so later builds never download it again;
- opened by Pillow with its decompression-bomb limit as an error, turned upright (EXIF
  orientation), converted to sRGB, centre-cropped to THUMBNAIL_ASPECT and resized to
  WIDTHS (600 px, and 1200 px for 2x screens: never enlarged past the original);
- written as JPEG, or PNG when it has transparency (never WebP: Outlook for Windows cannot show
  it), without metadata, under a name made of its content's hash (so a changed image gets a new
  URL, and a cached one can be served for ever), and kept by content hash too: the same picture
  at two URLs is resized once.

The build stores the files in `build/images/`; `serve` answers them under `<base_url>/images/`,
or `[images] folder` receives a copy for a static host at `[images] base_url` (docs/images.md).
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Workspace
from ..content import Post
from ..errors import GbaletterError
from ..fsutil import write_atomic
from ..links import image_url
from .recorded import IMAGES_INFO

if TYPE_CHECKING:
    from PIL import Image

# Pillow (~10 ms of CPU to import) and the HTTP stack (~30 ms) are imported by the functions that use
# them: a build whose images are all cached, the usual case, needs neither.

WIDTHS = (600, 1200)                # 1x and 2x
THUMBNAIL_ASPECT = (3, 2)           # every image is cropped to this width:height
JPEG_QUALITY = 82
RECIPE = "v1-600-1200-3x2-q82"      # change it when the above change: older renders are redone


@dataclass(frozen=True)
class Rendition:
    name: str  # content-hashed file name, e.g. 3f2a...c1.jpg
    width: int
    height: int


@dataclass(frozen=True)
class PreparedImage:
    """One post image, resized: the 1x and 2x files (in the cache folder)."""

    source: str
    one_x: Rendition
    two_x: Rendition


class ImageProblem(Exception):
    """Why one image cannot go into the email (the caller names the post and the image)."""


class ImageCache:
    """`cache/images/`: url -> content hash, content hash -> renditions, and the files."""

    def __init__(self, ws: Workspace):
        self.root = ws.cache_dir / "images"
        self.files = self.root / "files"

    def _url_entry(self, url: str) -> Path:
        return self.root / "urls" / f"{hashlib.sha256(url.encode()).hexdigest()}.txt"

    def content_hash(self, url: str) -> str | None:
        try:
            return self._url_entry(url).read_text(encoding="ascii").strip() or None
        except OSError:
            return None

    def remember_url(self, url: str, content_hash: str) -> None:
        _write(self._url_entry(url), content_hash)

    def _render_entry(self, content_hash: str) -> Path:
        return self.root / "renders" / f"{content_hash}-{RECIPE}.json"

    def renditions(self, content_hash: str) -> tuple[Rendition, Rendition] | None:
        try:
            data = json.loads(self._render_entry(content_hash).read_text(encoding="utf-8"))
            found = tuple(Rendition(**item) for item in data)
        except (OSError, ValueError, TypeError):
            return None
        if len(found) != 2 or not all((self.files / r.name).is_file() for r in found):
            return None
        return found[0], found[1]

    def store(self, content_hash: str, files: list[tuple[Rendition, bytes]]) -> None:
        for rendition, data in files:
            _write(self.files / rendition.name, data)
        _write(self._render_entry(content_hash), json.dumps([vars(r) for r, _ in files]))


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)


def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def local_files(ws: Workspace, posts: Iterable[Post]) -> set[Path]:
    """The workspace files the posts' images are read from (a build's inputs, like the posts)."""
    return {path for post in posts if post.image and not _is_url(post.image)
            and (path := (ws.root / post.image).resolve()).is_relative_to(ws.root) and path.is_file()}


def _read_source(ws: Workspace, source: str) -> bytes:
    if _is_url(source):
        from ..fetch import FetchError, fetcher_for

        try:
            return fetcher_for(ws, "images").get(source, accept="image/jpeg, image/png, image/*;q=0.8").content
        except FetchError as exc:
            raise ImageProblem(str(exc).removeprefix(f"{source}: ")) from None
    path = (ws.root / source).resolve()
    if not path.is_relative_to(ws.root) or not path.is_file():
        raise ImageProblem("neither an http(s) URL nor a file in the workspace")
    return path.read_bytes()


def _opened(data: bytes) -> Image.Image:
    """The picture upright and in sRGB; ImageProblem for what is not an image or is a bomb."""
    from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageProblem(f"more pixels than the {Image.MAX_IMAGE_PIXELS:,} an image may have "
                           "(a decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageProblem("not an image that can be read (JPEG, PNG, GIF, WebP)") from None
    image = ImageOps.exif_transpose(image, in_place=False)
    profile = image.info.get("icc_profile")
    if profile and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            image = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"),
                                              outputMode=image.mode.replace("CMYK", "RGB")) or image
        except ImageCms.PyCMSError:
            pass  # a broken profile: the pixels as they are
    transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    return image.convert("RGBA" if transparent else "RGB")


def _encoded(image: Image.Image) -> tuple[bytes, str]:
    """JPEG, or PNG when there is transparency; nothing but pixels (no EXIF, ICC, XMP, comments)."""
    out = io.BytesIO()
    if image.mode == "RGBA":
        image.save(out, "PNG", optimize=True)
        return out.getvalue(), "png"
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue(), "jpg"


def render(data: bytes) -> list[tuple[Rendition, bytes]]:
    """The 1x and 2x files of an image's bytes (pure: the same bytes give the same files)."""
    from PIL import Image, ImageOps

    image = _opened(data)
    ratio_w, ratio_h = THUMBNAIL_ASPECT
    # the largest ratio_w:ratio_h box inside the picture, never enlarged past it for 2x
    crop_width = min(image.width, image.height * ratio_w // ratio_h)
    if crop_width < 1:
        raise ImageProblem("an image with no pixels")
    files = []
    for width in (WIDTHS[0], max(WIDTHS[0], min(WIDTHS[1], crop_width))):
        size = (width, round(width * ratio_h / ratio_w))
        resized = ImageOps.fit(image, size, Image.Resampling.LANCZOS, centering=(0.5, 0.5))
        data_out, suffix = _encoded(resized)
        name = f"{hashlib.sha256(data_out).hexdigest()[:24]}.{suffix}"
        files.append((Rendition(name, *size), data_out))
    return files


def _prepare_one(ws: Workspace, cache: ImageCache, source: str) -> PreparedImage:
    content_hash = cache.content_hash(source) if _is_url(source) else None
    found = cache.renditions(content_hash) if content_hash else None
    if found is None:
        data = _read_source(ws, source)
        content_hash = hashlib.sha256(data).hexdigest()
        found = cache.renditions(content_hash)
        if found is None:
            files = render(data)
            cache.store(content_hash, files)
            found = (files[0][0], files[1][0])
        if _is_url(source):
            cache.remember_url(source, content_hash)
    return PreparedImage(source, *found)


def prepare_images(ws: Workspace, posts: Iterable[Post]) -> dict[str, PreparedImage]:
    """source -> its resized image, for every post with an image. Raises GbaletterError with one
    line per image that cannot be used, naming the post and the image, before anything is built."""
    cache = ImageCache(ws)
    prepared: dict[str, PreparedImage] = {}
    problems = []
    for post in posts:
        if not post.image or post.image in prepared:
            continue
        try:
            prepared[post.image] = _prepare_one(ws, cache, post.image)
        except ImageProblem as exc:
            problems.append(f"{ws.display(post.path)}: image {post.image}: {exc}")
    if problems:
        raise GbaletterError("\n".join(problems))
    return prepared


def build_files(ws: Workspace, posts: Iterable[Post], prepared: dict[str, PreparedImage]) -> dict[str, bytes | str]:
    """The build's `images/<name>` files and its IMAGES_INFO (which post each came from)."""
    cache = ImageCache(ws)
    files: dict[str, bytes | str] = {}
    manifest = []
    for post in posts:
        image = prepared.get(post.image)
        if image is None:
            continue
        for rendition in (image.one_x, image.two_x):
            files[f"images/{rendition.name}"] = (cache.files / rendition.name).read_bytes()
        manifest.append({"post": ws.display(post.path), "source": image.source,
                         "files": [image.one_x.name, image.two_x.name]})
    files[IMAGES_INFO] = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    return files


def served_files(ws: Workspace, build: Path) -> dict[str, Path]:
    """image address -> the build's file behind it: what a local browser (screenshots, the phone
    check, the preview) shows instead of asking the server the address names."""
    folder = build / "images"
    return {image_url(ws, path.name): path for path in sorted(folder.glob("*"))} if folder.is_dir() else {}


def image_posts(build: Path) -> dict[str, str]:
    """file name -> the post its image came from, as the build's IMAGES_INFO records it."""
    try:
        entries = json.loads((build / IMAGES_INFO).read_text(encoding="utf-8"))
        return {name: entry["post"] for entry in entries for name in entry["files"]}
    except (OSError, ValueError, LookupError, TypeError):
        return {}


def publish(ws: Workspace, files: dict[str, bytes | str]) -> None:
    """Copy the images to `[images] folder`, for a static host (names are content hashes: a file
    already there is the same file, and none is ever removed, so sent issues keep theirs)."""
    if not ws.config.images.folder:
        return
    folder = (ws.root / ws.config.images.folder).resolve()
    for name, data in files.items():
        target = folder / name.removeprefix("images/")
        if name.startswith("images/") and not target.exists():
            _write(target, data)
