"""The reports' charts: matplotlib (Agg, no display, no network) written as inline SVG.

Text stays text (`svg.fonttype = none`), and the SVG carries no date, so a chart of the same
numbers is the same bytes. The page scales each chart to its width, so none overflows a phone.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: never a display, whatever the environment says
from matplotlib import pyplot
from matplotlib.axes import Axes
from matplotlib.figure import Figure

HUMAN_COLOR, MACHINE_COLOR, THRESHOLD_COLOR = "#0b5cad", "#b0b8c1", "#c62828"
_STYLE: Any = {"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
          "svg.hashsalt": "gbaletter"}


def _svg(figure: Figure, label: str) -> str:
    out = io.StringIO()
    with matplotlib.rc_context(_STYLE):
        figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    pyplot.close(figure)
    svg = out.getvalue()
    svg = svg[svg.index("<svg"):]
    # a role and a name for screen readers; the width and height go, the viewBox stays (CSS sizes it)
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1', svg, count=1)
    return svg.replace("<svg", f'<svg role="img" aria-label="{label}" class="chart"', 1)


def _figure(height: float = 2.6) -> tuple[Figure, Axes]:
    with matplotlib.rc_context(_STYLE):
        figure, axes = pyplot.subplots(figsize=(6.4, height))
    return figure, axes


def _counts_on(axes: Axes, axis: Any, legend_at: Any) -> None:
    """Whole numbers on the counting axis (clicks come one by one), and the people/machines key."""
    axis.get_major_locator().set_params(integer=True)
    axes.legend(loc=legend_at, frameon=False)


def clicks_by_story(labels: Sequence[str], human: Sequence[int], machine: Sequence[int]) -> str:
    """Horizontal bars: unique human clickers and machine clicks per story."""
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(max(1.6, 0.32 * len(labels) + 0.8))
        rows = range(len(labels))
        axes.barh([r + 0.2 for r in rows], human, height=0.4, color=HUMAN_COLOR, label="people (unique)")
        axes.barh([r - 0.2 for r in rows], machine, height=0.4, color=MACHINE_COLOR, label="machine clicks")
        axes.set_yticks(list(rows), [label[:38] for label in labels])
        axes.invert_yaxis()
        _counts_on(axes, axes.xaxis, "lower right")
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
        _counts_on(axes, axes.yaxis, "upper right")
    return _svg(figure, "clicks per hour over the first 72 hours")


def list_size(labels: Sequence[str], sizes: Sequence[int]) -> str:
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure()
        axes.plot(list(labels), sizes, marker="o", color=HUMAN_COLOR)
        axes.set_ylabel("recipients")
        axes.set_ylim(bottom=0)
        axes.tick_params(axis="x", labelrotation=45)
    return _svg(figure, "list size per issue")


def rates(labels: Sequence[str], series: dict[str, Sequence[float]], threshold: float) -> str:
    """Rates per issue in percent, with the complaint threshold as a red line."""
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure()
        for (name, values), color in zip(series.items(), (MACHINE_COLOR, THRESHOLD_COLOR, HUMAN_COLOR),
                                         strict=True):
            axes.plot(list(labels), [v * 100 for v in values], marker="o", label=name, color=color)
        axes.axhline(threshold * 100, color=THRESHOLD_COLOR, linestyle="--", linewidth=1,
                     label=f"Gmail complaint threshold {threshold:.1%}")
        axes.set_ylabel("% of messages")
        axes.set_ylim(bottom=0)
        axes.tick_params(axis="x", labelrotation=45)
        axes.legend(loc="upper left", frameon=False)
    return _svg(figure, "bounce, complaint and unsubscribe rates per issue")
