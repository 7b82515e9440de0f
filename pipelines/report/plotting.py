"""The report's charts drawn with matplotlib (Agg) from their descriptions (chart_data), as PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pipelines.report.chart_data import Chart

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 3.6, 110


def draw(chart: Chart) -> bytes:
    """The chart as PNG bytes."""
    return _png(figure(chart))


def figure(chart: Chart) -> Figure:
    """The chart drawn on a matplotlib figure."""
    fig, ax = _figure()
    {
        "failure_rate": _failure_rates,
        "outcomes": _outcomes,
        "durations": _durations,
        "scores": _scores,
    }[chart.kind](ax, chart)
    ax.set_title(chart.title)
    if chart.day_range:
        first, last = chart.day_range
        ax.set_xlim(_x(first) - 0.5, _x(last) + 0.5)  # each day from its midnight to the next
    if chart.x_ticks:
        _x_ticks(ax, chart)
    _finish(fig, ax, legend=bool(chart.series), legend_title=chart.legend_title)
    return fig


def _failure_rates(ax: Axes, chart: Chart) -> None:
    """One line per workflow; the step into a partial day dashed, to a hollow point."""
    for s in chart.series:
        full = [(x, y) for x, y in zip(s.x, s.y, strict=True) if x != chart.partial_day]
        ax.plot(
            _xs([x for x, _ in full]),
            [y for _, y in full],
            marker="o",
            markersize=3,
            linewidth=1.6,
            label=s.label,
            color=s.colour,
        )
        if chart.partial_day in s.x:
            today = s.x.index(chart.partial_day)
            step = slice(max(0, today - 1), today + 1)
            ax.plot(
                _xs(s.x[step]),
                s.y[step],
                linestyle="--",
                linewidth=1.4,
                color=s.colour,
                marker="o",
                markersize=4,
                markevery=[-1],
                markerfacecolor="white",
            )
    ax.set_ylabel("failure rate (%)")
    ax.set_ylim(bottom=0)


def _outcomes(ax: Axes, chart: Chart) -> None:
    """Bars stacked by outcome."""
    bottom = [0.0] * len(chart.series[0].x) if chart.series else []
    for s in chart.series:
        bars = ax.bar(_xs(s.x), s.y, bottom=bottom, label=s.label, color=s.colour)
        if chart.partial_day in s.x:  # lighter and hatched: a day still filling up
            partial = bars[s.x.index(chart.partial_day)]
            partial.set_alpha(0.45)
            partial.set_hatch("///")
            partial.set_edgecolor("white")
        bottom = [b + v for b, v in zip(bottom, s.y, strict=True)]
    ax.set_ylabel("runs")


def _durations(ax: Axes, chart: Chart) -> None:
    """Steps over log-spaced bins; filled when few enough not to hide each other."""
    for s in chart.series:
        if not s.x:
            continue
        (line,) = ax.step(s.x, s.y, where="post", linewidth=1.6, label=s.label, color=s.colour)
        if len(chart.series) <= 3:
            ax.fill_between(s.x, s.y, step="post", alpha=0.12, facecolor=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("duration of completed runs (log scale)")
    ax.set_ylabel("share of runs (%)")


def _scores(ax: Axes, chart: Chart) -> None:
    """One line per experiment and block over time."""
    for s in chart.series:
        if s.x:
            ax.plot(_xs(s.x), s.y, marker="o", markersize=3, linewidth=1.4, label=s.label, color=s.colour)
    ax.set_ylabel("score")


def _figure() -> tuple[Figure, Axes]:
    """A blank figure of the report's size, on the non-interactive backend."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _xs(values: Sequence[Any]) -> list[float]:
    """Positions on the x axis of the chart's values (see _x)."""
    return [_x(value) for value in values]


def _x(value: date | float) -> float:
    """A day sits at its noon, so that its bar and label fill its width; a time at itself; a number as is."""
    import matplotlib.dates as mdates

    if isinstance(value, datetime):
        return float(mdates.date2num(value))
    if isinstance(value, date):
        return float(mdates.date2num(value)) + 0.5
    return float(value)


def _finish(fig: Figure, ax: Axes, *, legend: bool, legend_title: str | None) -> None:
    """A light grid and the legend outside the plot, on the right."""
    ax.grid(True, alpha=0.3)
    if legend:
        ax.legend(
            fontsize=8,
            title=legend_title,
            title_fontsize=8,
            alignment="left",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
        )
    fig.tight_layout()


def _x_ticks(ax: Axes, chart: Chart) -> None:
    """The chart's own labelled x ticks, and no labels on the minor ticks between them."""
    from matplotlib.ticker import NullFormatter

    values, labels = zip(*chart.x_ticks, strict=True)
    ax.set_xticks(_xs(values), labels)  # widens the view to show every tick
    ax.xaxis.set_minor_formatter(NullFormatter())


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
