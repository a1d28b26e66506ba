"""Issue 19, done when: each edition of the trilingual desk, as Chromium draws it at 800 and
375 px with the CJK fonts `.ci/run` installs (fonts-noto-cjk), has a glyph for every character.

Chromium names the fonts it drew each element's text with (DevTools `CSS.getPlatformFontsForNode`);
fontconfig gives each font's file and fontTools its character map. A character none of them has
would be drawn as an empty box (tofu)."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache

import pytest
from fontTools.ttLib import TTFont

from gbaletter.issue.browser import chromium, email_page
from support.programs import require_program
from support.workspace import DATA

ISSUE = "2019-W27"


@cache
def _characters(postscript_name: str) -> frozenset[int]:
    """The characters the installed font `postscript_name` has a glyph for."""
    found = subprocess.run(["fc-match", "-f", "%{file}|%{index}", f":postscriptname={postscript_name}"],
                           capture_output=True, text=True, check=True).stdout
    file, _, index = found.partition("|")
    font = TTFont(file, fontNumber=int(index or 0), lazy=True)
    return frozenset(font.getBestCmap())


def _undrawable(page) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(text, fonts) of every element whose own text has a character none of its fonts has."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    missing, checked = [], 0
    stack = [cdp.send("DOM.getDocument", {"depth": -1, "pierce": False})["root"]]
    while stack:
        node = stack.pop()
        children = node.get("children", [])
        stack += children
        text = "".join(child["nodeValue"] for child in children if child["nodeType"] == 3)
        visible = {ord(char) for char in text if not char.isspace() and char.isprintable()}
        if node["nodeType"] != 1 or not visible or node["nodeName"] in ("STYLE", "TITLE", "HEAD"):
            continue
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
        if not fonts:
            continue  # not drawn (the hidden preheader)
        checked += 1
        covered = frozenset().union(*(_characters(font["postScriptName"]) for font in fonts))
        if visible - covered:
            missing.append((text, ", ".join(font["familyName"] for font in fonts)))
    assert checked > 20  # the walk saw the email's text
    return missing


@pytest.mark.usefixtures("chromium")
def test_every_character_of_each_edition_has_a_glyph(tmp_path, run_cli):
    require_program("fc-match", "fontconfig")
    desk = shutil.copytree(DATA / "editions", tmp_path / "desk")
    assert run_cli(desk, "issue", "build", ISSUE).exit_code == 0
    build = desk / "issues" / ISSUE / "build"
    with chromium() as browser:
        for language in ("en", "zh-Hant", "zh-Hans"):
            html = (build / f"email.{language}.html").read_text(encoding="utf-8")
            for width in (800, 375):
                with email_page(browser, html, width) as page:
                    assert _undrawable(page) == [], (language, width)
