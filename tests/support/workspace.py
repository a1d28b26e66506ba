"""The test workspace's constants and small file helpers, shared by the tests and fixtures."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
FEED = DATA / "technology-feed.xml"  # a WordPress tag feed: long posts, excerpts, a briefs digest

MINIMAL_CONFIG = """\
[newsletter]
name = "Test Weekly"
sender = "Test Weekly <weekly@example.org>"
base_url = "https://news.example.org"
postal_address = "1 Test Road, Hong Kong"
timezone = "Asia/Hong_Kong"
default_tags = ["technology", "finance"]
list_id = "weekly.example.org"

[smtp]
host = "127.0.0.1"
port = 8025
tls = "none"
envelope_sender = "bounces@example.org"

[fetch]
allow_networks = ["127.0.0.1"]  # the tests' web servers
"""


TEST_SECRET = "test-secret-0123456789abcdef"


def write(path: Path, text: str) -> Path:
    """Write a test file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
