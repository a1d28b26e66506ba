"""Post images end to end: imported from a feed's Media RSS, fetched from a real HTTP server on
127.0.0.1 at build, resized and served by `gbaletter serve`; and every bad image refused with one
line and no build written."""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import yaml
from lxml import html as lxml_html
from PIL import Image, ImageDraw

from gbaletter.config import load_workspace
from gbaletter.issue.check import IMAGE_WEIGHT, ISSUE_IMAGE_WEIGHT, check_issue
from gbaletter.web.app import create_app
from support.http_server import QuietHandler, http_server
from support.smtp_server import free_port
from support.web_server import serving
from support.workspace import DATA, TEST_SECRET, write

BASE_URL = "https://news.example.org"  # MINIMAL_CONFIG's
ISSUE = "2019-W26"


def photo(width: int, height: int, exif: bool = True) -> bytes:
    """A JPEG with detail (so its weight is a photograph's), an EXIF camera note and GPS tag."""
    image = Image.new("RGB", (width, height), (30, 80, 140))
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 37):
        draw.line([(x, 0), (width - x, height)], fill=(200, (x * 7) % 255, 60), width=5)
    out = io.BytesIO()
    metadata = Image.Exif()
    if exif:
        metadata[0x010F] = "GBA Desk Camera"   # Make
        metadata[0x8825] = {1: "N", 2: (22.0, 17.0, 0.0)}  # GPSInfo: where the reporter stood
    image.save(out, "JPEG", quality=90, exif=metadata)
    return out.getvalue()


def transparent_png() -> bytes:
    image = Image.new("RGBA", (900, 900), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse([100, 100, 800, 800], fill=(10, 120, 90, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def bomb() -> bytes:
    """A tiny PNG that would decode to 100 million pixels: past Pillow's limit."""
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG", optimize=True)
    return out.getvalue()


class ImageServer(QuietHandler):
    files: ClassVar[dict[str, tuple[str, bytes]]] = {}
    requests: ClassVar[Counter] = Counter()

    def do_GET(self) -> None:
        ImageServer.requests[self.path] += 1
        if self.path == "/slow.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"\xff")
                self.wfile.flush()
                time.sleep(1)
            return
        if self.path == "/huge.jpg":  # 50 MB, announced honestly
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(50 * 1024 * 1024))
            self.end_headers()
            return
        content_type, body = self.files.get(self.path, ("text/plain", b""))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)



@pytest.fixture(scope="module")
def website() -> Iterator[str]:
    with http_server(ImageServer) as base:
        ImageServer.files = _website_files(base)
        yield base


def _website_files(base: str) -> dict[str, tuple[str, bytes]]:
    return {
        "/feed/": ("application/rss+xml", (DATA / "images-feed.xml").read_text().replace("IMAGES", base).encode()),
        "/uploads/nansha-cranes.jpg": ("image/jpeg", photo(2400, 1600)),
        "/uploads/hengqin-hall.png": ("image/png", transparent_png()),
        "/uploads/drone.jpg": ("image/jpeg", photo(1000, 1400)),  # portrait: cropped to 3:2
        "/page.jpg": ("text/html", b"<!doctype html><html><body>Not found, but 200</body></html>"),
        "/bomb.png": ("image/png", bomb()),
    }


@pytest.fixture
def imported(workspace_dir, run_cli, website) -> Path:
    result = run_cli(workspace_dir, "posts", "import", f"{website}/feed/")
    assert result.exit_code == 0, result.stderr
    assert run_cli(workspace_dir, "issue", "new", "--week", ISSUE).exit_code == 0
    return workspace_dir


def front_matter(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---")[1])


def test_import_takes_each_posts_image_and_alt_text(imported, website):
    posts = {p.name: front_matter(p) for p in (imported / "posts").glob("*.md")}
    images = {name: (meta["image"], meta["image_alt"]) for name, meta in posts.items()}
    assert images == {
        "2019-06-25-nansha-5g-terminal.md": (f"{website}/uploads/nansha-cranes.jpg",
                                             "Automated gantry cranes above stacked containers at Nansha"),
        "2019-06-26-hengqin-port.md": (f"{website}/uploads/hengqin-hall.png", "橫琴口岸旅檢大樓的玻璃幕牆"),
        # an enclosure has no alt text: the content's <img> of the same upload gives it
        "2019-06-27-drone-corridor.md": (f"{website}/uploads/drone.jpg", "A delivery drone over Shenzhen Bay"),
    }
    # the media:description is the image's alt text, not the post's body
    body = (imported / "posts" / "2019-06-26-hengqin-port.md").read_text(encoding="utf-8").split("---", 2)[2]
    assert "合作查驗" in body and "玻璃幕牆" not in body


def _build(root: Path, run_cli) -> tuple[Path, lxml_html.HtmlElement]:
    result = run_cli(root, "issue", "build", ISSUE)
    assert result.exit_code == 0, result.stderr
    folder = root / "issues" / ISSUE / "build"
    return folder, lxml_html.fromstring((folder / "email.html").read_text(encoding="utf-8"))


def test_the_email_shows_resized_images_under_base_url_and_serve_returns_them(imported, run_cli, website,
                                                                              monkeypatch):
    ImageServer.requests.clear()
    folder, doc = _build(imported, run_cli)
    shown = [img for img in doc.iter("img") if img.get("src", "").startswith(f"{BASE_URL}/images/")]
    assert len(shown) == 3
    # the lead across the column, the others as thumbnails: one 3:2 shape for all
    assert (shown[0].get("width"), shown[0].get("height")) == ("600", "400")
    for img in shown:
        width, height = int(img.get("width")), int(img.get("height"))
        assert width <= 600 and height == round(width * 2 / 3)
        file = folder / "images" / img.get("src").rpartition("/")[2]
        with Image.open(file) as picture:
            assert picture.size == (600, 400) and picture.format in ("JPEG", "PNG")
            assert not picture.getexif() and "icc_profile" not in picture.info  # metadata stripped
        assert file.stat().st_size <= IMAGE_WEIGHT.threshold * 1024
    alts = sorted(img.get("alt") for img in shown)
    assert alts == ["A delivery drone over Shenzhen Bay", "Automated gantry cranes above stacked containers at Nansha",
                    "橫琴口岸旅檢大樓的玻璃幕牆"]
    # the 2x files: 1200 px wide, or the original's width when it is narrower (never enlarged)
    records = json.loads((folder / "images.json").read_text())
    widths = {r["source"].rpartition("/")[2]: Image.open(folder / "images" / r["files"][1]).size for r in records}
    assert widths == {"nansha-cranes.jpg": (1200, 800), "hengqin-hall.png": (900, 600), "drone.jpg": (1000, 667)}
    assert {Path(r["files"][0]).suffix for r in records} == {".jpg", ".png"}  # transparency stays PNG
    codes = {f.code for f in check_issue(load_workspace(imported), ISSUE).findings}
    assert not codes & {IMAGE_WEIGHT.code, ISSUE_IMAGE_WEIGHT.code}
    assert sum(ImageServer.requests.values()) == 3  # each image fetched once

    _build(imported, run_cli)  # again: everything from the cache
    assert sum(ImageServer.requests.values()) == 3

    monkeypatch.setenv("GBALETTER_SECRET", TEST_SECRET)
    with serving(create_app(load_workspace(imported)), free_port()) as served:
        for img in shown:
            path = img.get("src")[len(BASE_URL):]
            response = httpx.get(served + path)
            assert response.status_code == 200
            assert response.content == (folder / "images" / path.rpartition("/")[2]).read_bytes()
            assert response.headers["content-type"] in ("image/jpeg", "image/png")
            assert "immutable" in response.headers["cache-control"]
        for bad in ("/images/../gbaletter.toml", "/images/0000.jpg", "/images/%2e%2e%2fgbaletter.toml"):
            assert httpx.get(served + bad).status_code == 404


def test_a_changed_image_file_makes_the_build_stale(sample_workspace, run_cli):
    assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
    Image.new("RGB", (1600, 1067), (200, 40, 40)).save(sample_workspace / "images" / "shekou-container-cranes.jpg")
    result = run_cli(sample_workspace, "issue", "check", ISSUE, "--no-browser")
    assert "build-stale" in result.output


@pytest.mark.parametrize(("path", "problem"), [
    ("/missing.jpg", "HTTP 404 Not Found"),
    ("/slow.jpg", "no complete answer within 2 s"),
    ("/page.jpg", "not an image that can be read (JPEG, PNG, GIF, WebP)"),
    ("/huge.jpg", "52.4 MB is more than the 20.0 MB a download may be"),
    ("/bomb.png", "more pixels than the 89,478,485 an image may have (a decompression bomb?)"),
], ids=["404", "timeout", "not-an-image", "50MB", "decompression-bomb"])
def test_a_bad_image_is_one_line_naming_post_and_url_and_no_build(imported, run_cli, website, path, problem):
    config = imported / "gbaletter.toml"
    config.write_text(config.read_text().replace("[fetch]\n", "[fetch]\ndeadline = 2\n"))
    post = imported / "posts" / "2019-06-27-drone-corridor.md"
    post.write_text(post.read_text().replace(f"{website}/uploads/drone.jpg", f"{website}{path}"))
    started = time.monotonic()
    result = run_cli(imported, "issue", "build", ISSUE)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.error_lines == [f"error: posts/2019-06-27-drone-corridor.md: image {website}{path}: {problem}"]
    assert not (imported / "issues" / ISSUE / "build").exists()
    assert time.monotonic() - started < 10


def test_an_image_without_alt_text_fails_the_entry(workspace_dir, run_cli, tmp_path):
    feed = write(tmp_path / "feed.xml", """<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
<title>GBA</title><item><title>Lantau tomorrow</title><link>https://gba.example.org/lantau/</link>
<pubDate>Tue, 25 Jun 2019 02:00:00 +0000</pubDate><description>Reclaimed islands.</description>
<media:thumbnail url="https://gba.example.org/uploads/lantau.jpg"/></item></channel></rss>""")
    result = run_cli(workspace_dir, "posts", "import", str(feed))
    assert result.exit_code == 1
    assert result.error_lines[0] == ('error: entry 1 "Lantau tomorrow": its image https://gba.example.org/uploads/'
                                     "lantau.jpg has no alt text (media:description, or the <img>'s alt): a post's "
                                     "image needs one for readers who cannot see it")
    assert list((workspace_dir / "posts").iterdir()) == []


def test_images_for_a_static_host_are_written_to_its_folder(sample_workspace, run_cli, tmp_path):
    static = tmp_path / "static"
    config = sample_workspace / "gbaletter.toml"
    config.write_text(config.read_text() + f'\n[images]\nfolder = "{static}"\n'
                      'base_url = "https://static.gba.example.org/nl/"\n')
    folder, doc = _build(sample_workspace, run_cli)
    sources = [img.get("src") for img in doc.iter("img") if "/nl/" in img.get("src", "")]
    assert sources and all(src.startswith("https://static.gba.example.org/nl/") for src in sources)
    published = {path.name: path.read_bytes() for path in static.iterdir()}
    assert published == {path.name: path.read_bytes() for path in (folder / "images").iterdir()}


def test_an_images_folder_needs_its_address(sample_workspace, run_cli):
    config = sample_workspace / "gbaletter.toml"
    config.write_text(config.read_text() + '\n[images]\nfolder = "/srv/static"\n')
    result = run_cli(sample_workspace, "issue", "build", ISSUE)
    assert result.error_lines == ["error: gbaletter.toml [images]: 'folder' needs 'base_url', the address it is "
                                  "published at"]


def test_a_relative_media_address_is_made_absolute_against_the_entrys_link(workspace_dir, run_cli, tmp_path):
    feed = write(tmp_path / "feed.xml", """<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
<title>GBA</title><item><title>前海的新碼頭</title><link>https://gba.example.org/2019/06/qianhai/</link>
<pubDate>Tue, 25 Jun 2019 02:00:00 +0000</pubDate><description>碼頭啟用。</description>
<media:content url="/uploads/qianhai.jpg" medium="image"><media:description>前海碼頭的吊機</media:description>
</media:content></item></channel></rss>""")
    assert run_cli(workspace_dir, "posts", "import", str(feed)).exit_code == 0
    [post] = (workspace_dir / "posts").glob("*.md")
    meta = front_matter(post)
    assert (meta["image"], meta["image_alt"]) == ("https://gba.example.org/uploads/qianhai.jpg", "前海碼頭的吊機")
