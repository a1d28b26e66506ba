"""The reports' charts: matplotlib (Agg, no display, no network) written as inline SVG.

Text stays text (`svg.fonttype = none`), and the SVG carries no date, so a chart of the same
numbers is the same bytes. The page scales each chart to its width, so none overflows a phone.
"""

from __future__ import annotations

import io
import re
import textwrap
import unicodedata
import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import matplotlib
import matplotlib.dates
import matplotlib.font_manager

matplotlib.use("Agg")  # before pyplot: never a display, whatever the environment says
from matplotlib import pyplot
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

HUMAN_COLOR, MACHINE_COLOR, THRESHOLD_COLOR = "#0b5cad", "#b0b8c1", "#c62828"
# Text stays text, drawn by the reader's browser; matplotlib only measures it for the layout, so it
# needs a font with the story titles' Chinese characters when this machine has one.
_CJK_FONTS = ("Noto Sans CJK TC", "Noto Sans CJK SC", "Source Han Sans TC", "Source Han Sans SC",
              "PingFang HK", "Microsoft JhengHei", "WenQuanYi Zen Hei")
_INSTALLED = {font.name for font in matplotlib.font_manager.fontManager.ttflist}
_STYLE: Any = {"svg.fonttype": "none", "font.size": 9.5, "axes.spines.top": False, "axes.spines.right": False,
               "svg.hashsalt": "gbaletter",
               "font.family": ["DejaVu Sans", *(name for name in _CJK_FONTS if name in _INSTALLED)]}
WIDTH = 4.6  # inches: the page shows a chart at most 36rem wide, so 9.5 pt stays readable at 375 px


def _svg(figure: Figure, label: str) -> str:
    out = io.StringIO()
    with matplotlib.rc_context(_STYLE), warnings.catch_warnings():
        # without a CJK font the layout is a little off, and the browser still draws the text
        warnings.filterwarnings("ignore", r"Glyph \d+ .* missing from font", UserWarning)
        figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    pyplot.close(figure)
    svg = out.getvalue()
    svg = svg[svg.index("<svg"):]
    # a role and a name for screen readers; the width and height go, the viewBox stays (CSS sizes it)
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1', svg, count=1)
    return svg.replace("<svg", f'<svg role="img" aria-label="{label}" class="chart"', 1)


def _figure(height: float = 2.6) -> tuple[Figure, Axes]:
    with matplotlib.rc_context(_STYLE):
        figure, axes = pyplot.subplots(figsize=(WIDTH, height))
    return figure, axes


LABEL_WIDTH, LABEL_LINES = 60, 2  # a story's label, above its bars: two lines of 60 columns


def label(text: str, width: int = LABEL_WIDTH, lines: int = LABEL_LINES) -> str:
    """`text` wrapped at words (Chinese, which has no spaces, between characters, each two columns
    wide), and if it is longer than `lines` lines, ended with an ellipsis after a whole word or
    character: never cut mid-word."""
    text = " ".join(text.split())
    wide = sum(unicodedata.east_asian_width(char) in "WF" for char in text)
    if wide > len(text) // 2:
        width //= 2
    return "\n".join(textwrap.wrap(text, width, max_lines=lines, placeholder=" …", break_on_hyphens=False))


def _legend_above(axes: Axes, columns: int = 3) -> None:
    """The key above the plotting area, where it can never cover the data."""
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncols=columns, frameon=False,
                borderaxespad=0, handlelength=1.5, columnspacing=1.2)


def _counts_on(axes: Axes, axis: Any) -> None:
    """Whole numbers on the counting axis (clicks come one by one), and the people/machines key."""
    axis.get_major_locator().set_params(integer=True)
    _legend_above(axes)


def clicks_by_story(labels: Sequence[str], human: Sequence[int], machine: Sequence[int]) -> str:
    """Horizontal bars, unique human clickers and machine clicks per story, each story's title
    written above its bars across the whole width (a phone has no room for a column of titles)."""
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(max(1.8, 0.7 * len(labels) + 0.7))
        rows = range(len(labels))
        axes.barh([r + 0.12 for r in rows], human, height=0.2, color=HUMAN_COLOR, label="people (unique)")
        axes.barh([r + 0.34 for r in rows], machine, height=0.2, color=MACHINE_COLOR, label="machine clicks")
        for row, text in zip(rows, labels, strict=True):
            axes.text(0, row - 0.03, label(text), va="bottom", ha="left", fontsize=8.5, linespacing=1.1)
        axes.set_ylim(len(labels) - 0.45, -0.6)
        axes.set_yticks([])
        axes.spines["left"].set_visible(False)
        _counts_on(axes, axes.xaxis)
    return _svg(figure, "clicks per story, people and machines")


def clicks_over_time(human: Sequence[int], machine: Sequence[int]) -> str:
    """Clicks per hour over the first 72 hours, people and machines stacked."""
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure()
        hours = range(len(human))
        axes.bar(hours, human, width=0.9, color=HUMAN_COLOR, label="people")
        axes.bar(hours, machine, width=0.9, bottom=human, color=MACHINE_COLOR, label="machines")
        axes.set_xlabel("hours after the send started")
        axes.set_xlim(-1, len(human))
        _counts_on(axes, axes.yaxis)
    return _svg(figure, "clicks per hour over the first 72 hours")


def list_size(moments: Sequence[datetime], sizes: Sequence[int]) -> str:
    """Active subscribers over time (at each issue's first send, and now), on a time axis."""
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure()
        axes.plot(matplotlib.dates.date2num(list(moments)), sizes, marker="o", color=HUMAN_COLOR,
                  drawstyle="steps-post")
        axes.set_ylabel("active subscribers")
        axes.set_ylim(0, max(sizes, default=0) * 1.12 + 1)  # room above the highest point
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        locator = matplotlib.dates.AutoDateLocator(maxticks=6)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator, tz=moments[0].tzinfo))
    return _svg(figure, "active subscribers over time")


def rates(labels: Sequence[str], series: dict[str, Sequence[float]], complaints: Sequence[float],
          threshold: float) -> str:
    """Rates per issue in percent: bounces and unsubscribes above; complaints on a panel of their
    own below, on their own scale, with Gmail's threshold as a red line (a 20 % unsubscribe rate
    would flatten a 0.3 % line on a shared scale)."""
    with matplotlib.rc_context(_STYLE):
        figure, (upper, lower) = pyplot.subplots(2, 1, figsize=(WIDTH, 4.6), sharex=True,
                                                 gridspec_kw={"height_ratios": (3, 2)})
        positions = range(len(labels))
        for (name, values), color in zip(series.items(), (MACHINE_COLOR, HUMAN_COLOR), strict=True):
            upper.plot(positions, [v * 100 for v in values], marker="o", label=name, color=color)
        upper.set_ylabel("% of messages")
        upper.set_ylim(bottom=0)
        _legend_above(upper)
        lower.plot(positions, [v * 100 for v in complaints], marker="o", color=THRESHOLD_COLOR, label="complaints")
        lower.axhline(threshold * 100, color=THRESHOLD_COLOR, linestyle="--", linewidth=1,
                      label=f"Gmail's limit {threshold:.1%}")
        lower.set_ylim(0, max([threshold * 100 * 1.6, *(v * 100 * 1.15 for v in complaints)]))
        lower.set_ylabel("% complaints")
        _legend_above(lower)
        lower.set_xticks(list(positions), list(labels), rotation=45, ha="right", rotation_mode="anchor")
        figure.tight_layout()
    return _svg(figure, "bounce and unsubscribe rates per issue; complaint rate with Gmail's limit")
