"""The reports' charts: matplotlib (Agg, no display, no network) written as inline SVG.

Text stays text (`svg.fonttype = none`), and the SVG carries no date, so a chart of the same
numbers is the same bytes. Each chart is drawn twice, wide and narrow (`WIDTHS`); the page shows
the one for the screen and scales it to the width, so its text stays legible on a phone too.
Every legend sits above its axes, never on the data; labels are fitted by `labels.fit_label`;
times on an axis are in the workspace's time zone. The parts tests look for carry an SVG id
(matplotlib's gid): `legend`, `complaints`, `complaint-threshold`, `active-subscribers`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")  # before pyplot: never a display, whatever the environment says
from matplotlib import dates as mdates
from matplotlib import pyplot
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .labels import fit_label

HUMAN_COLOR, MACHINE_COLOR, THRESHOLD_COLOR, OTHER_COLOR = "#0b5cad", "#b0b8c1", "#c62828", "#6d4c9f"
# The people of each edition, in the desk's order of languages (the default's is the one-edition
# blue); each at least 3:1 against the white page, the first three apart in lightness too.
EDITION_COLORS = (HUMAN_COLOR, "#d17a00", "#1b7f5b", OTHER_COLOR, "#8c2f5d")
FONTS = ["DejaVu Sans", "Noto Sans CJK SC", "Noto Sans CJK JP"]  # the CJK fonts draw what DejaVu lacks
_STYLE: Any = {"svg.fonttype": "none", "font.family": [*FONTS, "sans-serif"],
               "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "gbaletter"}
FONT_SIZE = {False: 9, True: 11}  # points: the narrow drawing is shown at about 1.3 times its size on a phone
MAX_ISSUE_LABELS = {False: 10, True: 5}  # issue labels on the rates' axis, at most
WIDTHS = {False: 6.4, True: 3.6}  # inches, wide and narrow (a phone's column is ~4.8 in at 72 dpi)
STORY_LABEL_CELLS = {False: 30, True: 20}  # a story label's line, in display cells (a Chinese character is two)


def _style(narrow: bool) -> Any:
    return matplotlib.rc_context({**_STYLE, "font.size": FONT_SIZE[narrow]})


def _svg(figure: Figure, label: str, narrow: bool) -> str:
    out = io.StringIO()
    with _style(narrow):
        figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    pyplot.close(figure)
    svg = out.getvalue()
    svg = svg[svg.index("<svg"):]
    # a role and a name for screen readers; the width and height go, the viewBox stays (CSS sizes it)
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1', svg, count=1)
    shape = "narrow" if narrow else "wide"
    return svg.replace("<svg", f'<svg role="img" aria-label="{label}" class="chart {shape}"', 1)


def _figure(narrow: bool, height: float = 2.6, rows: int = 1) -> tuple[Figure, Any]:
    with _style(narrow):
        figure, axes = pyplot.subplots(rows, 1, figsize=(WIDTHS[narrow], height), sharex=rows > 1,
                                       gridspec_kw={"hspace": 0.55} if rows > 1 else None)
    return figure, axes


def _legend_above(axes: Axes, narrow: bool) -> None:
    """The key above the axes (in one row when wide): off the data whatever the numbers are."""
    handles, _ = axes.get_legend_handles_labels()
    legend = axes.legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncols=1 if narrow else len(handles),
                         frameon=False,
                         borderaxespad=0, handlelength=1.5, columnspacing=1.2)
    legend.set_gid("legend")


def _people(by_edition: Mapping[str, Sequence[int]] | None, human: Sequence[int],
            label: str) -> list[tuple[str, Sequence[int], str]]:
    """(label, values, colour) of the parts a bar of people is stacked from: one per edition of an
    issue sent in several (they add up to `human`), else the one."""
    if not by_edition:
        return [(label, human, HUMAN_COLOR)]
    return [(f"{label}, {edition}", values, EDITION_COLORS[n % len(EDITION_COLORS)])
            for n, (edition, values) in enumerate(by_edition.items())]


def clicks_by_story(labels: Sequence[str], human: Sequence[int], machine: Sequence[int],
                    by_edition: Mapping[str, Sequence[int]] | None = None, narrow: bool = False) -> str:
    """Horizontal bars: unique human clickers and machine clicks per story, in the email's order;
    the people's bar split by edition where `by_edition` gives each edition's clickers."""
    with _style(narrow):
        figure, axes = _figure(narrow, max(1.6, 0.42 * len(labels) + 0.9))
        rows = range(len(labels))
        start = [0] * len(labels)
        for name, values, color in _people(by_edition, human, "people (unique)" if not by_edition else "people"):
            axes.barh([r - 0.2 for r in rows], values, height=0.4, left=start, color=color, label=name)
            start = [a + b for a, b in zip(start, values, strict=True)]
        axes.barh([r + 0.2 for r in rows], machine, height=0.4, color=MACHINE_COLOR, label="machine clicks")
        axes.set_yticks(list(rows), [fit_label(label, STORY_LABEL_CELLS[narrow]) for label in labels])
        axes.set_ylim(len(labels) - 0.5, -0.5)  # the first story on top
        axes.xaxis.get_major_locator().set_params(integer=True)
        _legend_above(axes, narrow)
    return _svg(figure, "clicks per story, people and machines", narrow)


def clicks_over_time(human: Sequence[int], machine: Sequence[int], started: datetime,
                     by_edition: Mapping[str, Sequence[int]] | None = None, narrow: bool = False) -> str:
    """Clicks per hour over the first 72 hours, people and machines stacked (the people by
    edition where `by_edition` gives each edition's); `started` is local."""
    with _style(narrow):
        figure, axes = _figure(narrow)
        hours = range(len(human))
        bottom = [0] * len(human)
        for name, values, color in _people(by_edition, human, "people"):
            axes.bar(hours, values, width=0.9, bottom=bottom, color=color, label=name)
            bottom = [a + b for a, b in zip(bottom, values, strict=True)]
        axes.bar(hours, machine, width=0.9, bottom=human, color=MACHINE_COLOR, label="machines")
        axes.set_xlabel(f"hours after the send started, {started:%Y-%m-%d %H:%M %Z}")
        axes.set_xlim(-1, len(human))
        axes.yaxis.get_major_locator().set_params(integer=True)
        _legend_above(axes, narrow)
    return _svg(figure, "clicks per hour over the first 72 hours", narrow)


def active_subscribers(moments: Sequence[datetime], counts: Sequence[int], tz: ZoneInfo,
                       narrow: bool = False) -> str:
    """Active subscribers over time, a step after each change; dates on the axis in `tz`."""
    with _style(narrow):
        figure, axes = _figure(narrow)
        line, = axes.step(list(moments), counts, where="post", color=HUMAN_COLOR, label="active subscribers")
        line.set_gid("active-subscribers")
        locator = mdates.AutoDateLocator(tz=tz, maxticks=4 if narrow else 7)
        axes.xaxis.set_major_locator(locator)
        # the zone's name in the offset under the axis (the date the ticks start from)
        offsets = ["%Z", "%Y %Z", "%Y-%m %Z", "%Y-%m-%d %Z", "%Y-%m-%d %Z", "%Y-%m-%d %H:%M %Z"]
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz, offset_formats=offsets))
        axes.set_xlim(min(moments[0], moments[-1] - timedelta(days=1)), moments[-1])  # a day at least
        axes.set_ylabel("active subscribers")
        axes.set_ylim(bottom=0, top=max([*counts, 1]) * 1.1)
        axes.yaxis.get_major_locator().set_params(integer=True)
    return _svg(figure, "active subscribers over time", narrow)


def rates(labels: Sequence[str], series: dict[str, Sequence[float]], complaints: Sequence[float],
          threshold: float, narrow: bool = False) -> str:
    """Two panels, one x axis: bounce and unsubscribe rates in percent on top, complaint rates
    below on their own scale with Gmail's threshold as a red line, so a high unsubscribe rate
    never squashes it."""
    with _style(narrow):
        figure, (top, bottom) = _figure(narrow, 4.4, rows=2)
        positions = list(range(len(labels)))
        for (name, values), color in zip(series.items(), (MACHINE_COLOR, OTHER_COLOR), strict=True):
            top.plot(positions, [v * 100 for v in values], marker="o", label=name, color=color)
        top.set_ylabel("% of messages")
        top.set_ylim(bottom=0, top=max([v * 100 for values in series.values() for v in values] + [1]) * 1.15)
        _legend_above(top, narrow)
        bottom.set_gid("complaints")
        bottom.plot(positions, [v * 100 for v in complaints], marker="o", color=THRESHOLD_COLOR, label="complaints")
        line = bottom.axhline(threshold * 100, color=THRESHOLD_COLOR, linestyle="--", linewidth=1,
                              label=f"Gmail complaint threshold {threshold:.1%}")
        line.set_gid("complaint-threshold")
        bottom.set_ylim(bottom=0, top=max([threshold * 2, *complaints]) * 100 * 1.15)
        bottom.set_ylabel("% of messages")
        step = -(-len(labels) // MAX_ISSUE_LABELS[narrow])  # every issue, or every step-th when they would crowd
        bottom.set_xticks(positions[::step], list(labels)[::step])
        bottom.set_xlim(-0.5, len(labels) - 0.5)
        _legend_above(bottom, narrow)
    return _svg(figure, "bounce and unsubscribe rates, and complaint rates against Gmail's threshold, per issue",
                narrow)
