"""The report's charts, drawn with matplotlib (Agg) and returned as PNG bytes to embed in HTML."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

OUTCOME_COLOURS = {
    "completed": "#2e9e5b",
    "error": "#d64541",
    "cancelled": "#9aa0a6",
    "awaiting_review": "#f0a202",
    "in_flight": "#3d7edb",
}
WIDTH_IN, HEIGHT_IN, DPI = 10.0, 3.6, 110
DURATION_BIN = 0.25  # width of a duration histogram bin, in log10(seconds): four bins per decade


def failure_rate_chart(series: Mapping[str, Sequence[tuple[date, float | None]]]) -> bytes:
    """Daily failure rate (%) per workflow, one line each."""
    fig, ax = _figure()
    for name, points in series.items():
        kept = [(day, rate * 100) for day, rate in points if rate is not None]
        if kept:
            days, rates = zip(*kept, strict=True)
            ax.plot(days, rates, marker="o", markersize=3, linewidth=1.6, label=name)
    ax.set_ylabel("failure rate (%)")
    ax.set_ylim(bottom=0)
    ax.set_title("Failure rate per day (errors / finished runs)")
    _finish_days(fig, ax, [day for points in series.values() for day, _ in points], legend=bool(series))
    return _png(fig)


def outcome_chart(days: Sequence[date], counts: Mapping[str, Sequence[int]]) -> bytes:
    """Runs per day stacked by outcome."""
    import matplotlib.dates as mdates

    fig, ax = _figure()
    x = mdates.date2num(list(days))
    bottom = [0] * len(days)
    for outcome, values in counts.items():
        colour = OUTCOME_COLOURS.get(outcome)
        ax.bar(x, values, bottom=bottom, label=outcome.replace("_", " "), color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("runs")
    ax.set_title("Runs per day by outcome")
    _finish_days(fig, ax, list(days), legend=bool(counts))
    return _png(fig)


def duration_chart(histograms: Mapping[str, Sequence[tuple[int, int]]]) -> bytes:
    """Distribution of completed-run durations per workflow: share of runs per log-spaced bin.

    A bin is (index, runs); bin i holds durations from 10**(i * DURATION_BIN) seconds up to the next.
    """
    fig, ax = _figure()
    for name, bins in histograms.items():
        counts = dict(bins)
        total = sum(counts.values())
        if not total:
            continue
        indexes = range(min(counts), max(counts) + 2)  # every bin in between, and the closing edge
        edges = [10 ** (i * DURATION_BIN) for i in indexes]
        shares = [100 * counts.get(i, 0) / total for i in indexes[:-1]]
        shares.append(shares[-1])
        ax.step(edges, shares, where="post", linewidth=1.6, label=name)
        if len(histograms) <= 3:  # with more, the fills hide each other
            ax.fill_between(edges, shares, step="post", alpha=0.12)
    ax.set_xscale("log")
    ax.set_xlabel("duration of completed runs (seconds, log scale)")
    ax.set_ylabel("share of runs (%)")
    ax.set_title("Duration distribution")
    ax.xaxis.set_major_formatter(_seconds_formatter())
    _finish(fig, ax, legend=bool(histograms))
    return _png(fig)


def score_chart(series: Mapping[str, Sequence[tuple[datetime, float]]]) -> bytes:
    """Score of each completed experiment run over time, one line per experiment and block."""
    fig, ax = _figure()
    for name, points in series.items():
        if points:
            times, scores = zip(*points, strict=True)
            ax.plot(times, scores, marker="o", markersize=3, linewidth=1.4, label=name)
    ax.set_ylabel("score")
    ax.set_title("Experiment score per run (experiment / block)")
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    _finish(fig, ax, legend=bool(series))
    return _png(fig)


def _figure() -> tuple[Figure, Axes]:
    """A blank figure of the report's size, on the non-interactive backend."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _finish_days(fig: Figure, ax: Axes, days: Sequence[date], *, legend: bool) -> None:
    """One tick per day (fewer on long ranges), half a day of margin, then _finish."""
    import matplotlib.dates as mdates

    if days:
        first, last = min(days), max(days)
        span = (last - first).days + 1
        ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, math.ceil(span / 12))))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
        ax.set_xlim(mdates.date2num(first) - 0.6, mdates.date2num(last) + 0.6)
    _finish(fig, ax, legend=legend)


def _finish(fig: Figure, ax: Axes, *, legend: bool) -> None:
    """A light grid and the legend outside the plot, on the right."""
    ax.grid(True, alpha=0.3)
    if legend:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()


def _seconds_formatter() -> FuncFormatter:
    """Tick labels for a log axis of seconds: 0.1s, 1s, 10s, 2m."""
    from matplotlib.ticker import FuncFormatter

    def label(value: float, _pos: int) -> str:
        if value <= 0 or not math.isfinite(value):
            return ""
        if value < 1:
            return f"{value:g}s"
        if value < 60:
            return f"{value:.0f}s"
        if value < 3600:
            return f"{value / 60:.0f}m"
        return f"{value / 3600:.0f}h"

    return FuncFormatter(label)


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
