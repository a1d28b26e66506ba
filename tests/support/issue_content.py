"""A small week of content for issue tests (2019-W26, plus edge cases around its borders)."""

from pathlib import Path

from PIL import Image

from support.workspace import write


def post(root: Path, slug: str, title: str, date: str, tags: str, extra: str = "",
         body: str = "A first paragraph.\n\nMore.") -> Path:
    return write(root / "posts" / f"{slug}.md",
                 f"---\ntitle: {title}\ndate: {date}\ntags: [{tags}]\n"
                 f"url: https://gba.example.org/{slug}/\n{extra}---\n\n{body}\n")


def week_26(root: Path) -> None:
    """Four posts and two briefs in 2019-W26, one post just outside on each side."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (900, 600), (40, 90, 160)).save(root / "images" / "towers.png")
    post(root, "maglev", "Qingyuan maglev opens", "2019-06-24 00:30:00+08:00", "technology, transport")
    post(root, "star", "Guangdong STAR market", "2019-06-26 10:00:00+08:00", "finance")
    post(root, "towers", "Tianhe 5G towers", "2019-06-27 09:00:00+08:00", "technology, 5g",
         extra="excerpt: 2,500 base stations by September.\n"
               "image: images/towers.png\nimage_alt: A 5G mast on a roof\n")
    post(root, "policy", "Policy paper", "2019-06-28 09:00:00+08:00", "policy")
    post(root, "evs", "Electric cars", "2019-06-30 23:59:00+08:00", "technology")
    # 2019-06-23 16:30 UTC is 2019-06-24 00:30 in Hong Kong: W26 there, W25 in UTC.
    post(root, "utc-edge", "UTC edge", "2019-06-23 16:30:00+00:00", "technology")
    post(root, "before", "Sunday before", "2019-06-23 23:59:00+08:00", "technology")
    post(root, "after", "Monday after", "2019-07-01 00:00:00+08:00", "technology")
    write(root / "briefs" / "2019-06-25-briefs.yaml", """date: 2019-06-25 18:00:00+08:00
tags: [briefs, technology]
items:
  - lead: Vienna, anyone?
    text: A new air route links Guangzhou and Vienna.
    link: https://gba.example.org/briefs/#1
  - lead: Fees cut
    text: Passport fees fall from RMB160 to RMB120 on July 1.
    link: https://gba.example.org/briefs/#2
""")
