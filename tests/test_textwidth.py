"""Display width and line wrapping for Chinese and English text."""

from __future__ import annotations

import textwrap

import pytest

from support.workspace import REPO

from gbaletter.textwidth import CLOSING, OPENING, display_width, truncate, wrap

HENGQIN = ("澳門特區政府已選定輕軌橫琴延伸段的走線。線路由蓮花大橋出發，直達橫琴口岸，乘客可在那裏轉乘"
           "內地城際列車。延伸段落成後，由氹仔前往「橫琴粵澳深度合作區」只需十分鐘；于東來說：「這會為兩地"
           "居民帶來方便。」供應列車的是 Mitsubishi Heavy Industries（三菱重工）。")


def test_a_chinese_character_is_two_columns():
    assert display_width("GBA Weekly") == 10
    assert display_width("大灣區週報") == 10
    assert display_width("大湾区周报第2期：澳门轻轨") == 25  # full-width colon included
    assert display_width("e\u0301") == 1  # a combining accent takes no column
    assert truncate("橫琴粵澳深度合作區", 7) == "橫琴粵"


@pytest.mark.parametrize("width", range(8, 73))
def test_chinese_lines_fit_and_never_start_with_closing_or_end_with_opening_punctuation(width):
    lines = wrap(HENGQIN, width).splitlines()
    assert "".join(lines).replace(" ", "") == HENGQIN.replace(" ", "")
    for number, line in enumerate(lines):
        assert display_width(line) <= width or " " not in line.strip(), (width, line)
        assert number == 0 or line[0] not in CLOSING, (width, lines[number - 1], line)
        assert line[-1] not in OPENING or number == len(lines) - 1, (width, line)


def test_a_full_stop_takes_the_character_before_it_to_the_next_line():
    assert wrap("橫琴粵澳深度合作區。", 18).splitlines() == ["橫琴粵澳深度合作", "區。"]
    assert wrap("橫琴粵澳深度合作區。", 20).splitlines() == ["橫琴粵澳深度合作區。"]
    assert wrap("前往「橫琴」", 6).splitlines() == ["前往", "「橫", "琴」"]  # 「 stays with 橫


def test_later_lines_take_the_indent():
    assert wrap("* 深圳灣口岸7月起延長通關時間，旅客在凌晨一時前都可過關。", 24, indent="  ").splitlines() == [
        "* 深圳灣口岸7月起延長通", "  關時間，旅客在凌晨一時", "  前都可過關。"]


def test_english_wraps_exactly_as_textwrap_did():
    for path in sorted((REPO / "posts").glob("*.md")):
        for paragraph in path.read_text(encoding="utf-8").split("\n\n"):
            if paragraph.isascii():
                for indent in ("", "  "):
                    assert wrap(paragraph, 72, indent) == textwrap.fill(
                        " ".join(paragraph.split()), width=72, subsequent_indent=indent,
                        break_long_words=False, break_on_hyphens=False)
