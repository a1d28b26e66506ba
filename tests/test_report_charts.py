"""The reports' charts: labels wrapped or ended with an ellipsis, never cut mid-word; the legend
above the data; complaints on a panel of their own."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from gbaletter.report import charts

LONG = "The Bay Area files more patents than anyone. That is not the whole story, says a new study of 2019"
CHINESE = "橫琴粵澳深度合作區總體方案公布，澳門居民可在區內工作生活，並享有與內地居民同等的待遇和便利"


@pytest.mark.parametrize("text", [LONG, "Hengqin-guangdong-macao-in-depth-cooperation-zone explained", CHINESE,
                                  "Vienna, anyone?"])
def test_a_label_is_wrapped_or_ellipsized_never_cut(text):
    lines = charts.label(text).split("\n")
    assert len(lines) <= charts.LABEL_LINES
    shown = " ".join(lines).removesuffix(" …")
    if text.isascii():
        words = text.split()
        assert shown.split() == words[:len(shown.split())]  # whole words, in order
        assert all(len(line) <= charts.LABEL_WIDTH for line in lines)
    else:
        assert text.startswith(shown.replace(" ", ""))
        assert all(len(line) <= charts.LABEL_WIDTH // 2 + 2 for line in lines)  # two columns a character
    whole = shown == " ".join(text.split()) if text.isascii() else shown.replace(" ", "") == text
    assert whole != lines[-1].endswith("…")  # an ellipsis exactly when something was left out


def _texts(svg: str) -> list[str]:
    return [" ".join("".join(t.itertext()).split()) for t in etree.fromstring(svg.encode()).iter("{*}text")]


def test_story_titles_are_written_whole_above_their_bars():
    svg = charts.clicks_by_story([LONG, "Vienna, anyone?"], [3, 1], [9, 9])
    texts = _texts(svg)
    assert "Vienna, anyone?" in texts and any(t.startswith("The Bay Area files more patents") for t in texts)


def test_complaints_have_a_panel_and_a_scale_of_their_own():
    svg = charts.rates(["2019-W25", "2019-W26"], {"bounces": [0.01, 0.02], "unsubscribes": [0.2, 0.05]},
                       [0.001, 0.002], 0.003)
    texts = _texts(svg)
    assert "% complaints" in texts and "% of messages" in texts and "Gmail's limit 0.3%" in texts
    # the complaint panel's scale reaches just past the limit, not up to the 20 % unsubscribe rate
    ticks = [float(t) for t in texts if re.fullmatch(r"\d+(\.\d+)?", t)]
    assert 0.4 in ticks and 20.0 in ticks
