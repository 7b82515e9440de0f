"""What each chart of the HTML report shows, worked out without matplotlib: series, colours, labels.

```
 Report rows ──describe_charts()──► Chart (series, colours, ticks, legend) ──plotting.draw()──► PNG
```
Everything a reader can see in a chart is decided here, so tests check it without an image.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pipelines.report import Report

CHART_WORKFLOWS = 8  # workflows drawn per chart: the busiest
CHART_BLOCKS = 6  # experiment blocks drawn in the score chart: those with the most scored runs
OUTCOMES = ("completed", "error", "cancelled", "awaiting_review", "in_flight")
OUTCOME_COLOURS = {
    "completed": "#2e9e5b",
    "error": "#d64541",
    "cancelled": "#9aa0a6",
    "awaiting_review": "#f0a202",
    "in_flight": "#3d7edb",
}
PALETTE = (  # series colours; a series takes the slot its name hashes to (stable_colours)
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
)
PARTIAL_DAY_NOTE = "today (partial)"  # under the partial day's label
DAY_TICKS = 12  # at most this many labelled days on a day axis
DURATION_BIN = 0.25  # width of a duration histogram bin, in log10(seconds): four bins per decade
ROUND_DURATIONS = (  # the duration axis's ticks are chosen from these (seconds, label)
    (0.001, "1ms"),
    (0.01, "10ms"),
    (0.1, "100ms"),
    (1, "1s"),
    (10, "10s"),
    (60, "1m"),
    (600, "10m"),
    (3600, "1h"),
    (6 * 3600, "6h"),
    (86400, "1d"),
    (7 * 86400, "1w"),
)

Kind = Literal["failure_rate", "outcomes", "durations", "scores"]


@dataclass(frozen=True)
class Series:
    """One line, bar stack or histogram of a chart: its legend label, colour and points."""

    label: str
    x: tuple[Any, ...]
    y: tuple[float, ...]
    colour: str


@dataclass(frozen=True)
class Chart:
    """One chart as a reader sees it, before it is drawn."""

    kind: Kind
    caption: str
    title: str
    series: tuple[Series, ...]
    day_range: tuple[date, date] | None = None  # first and last UTC day of a day axis
    partial_day: date | None = None  # today (UTC) on a day axis: a day still filling up, drawn apart
    legend_title: str | None = None  # e.g. "8 busiest of 36 workflows" when some are left out
    x_ticks: tuple[tuple[Any, str], ...] = ()  # (value, label) of each labelled tick; () for automatic


def describe_charts(report: Report) -> list[Chart]:
    """Every chart the report's data allows, in the order the page shows them."""
    out: list[Chart] = []
    busiest = [str(r["workflow_id"]) for r in report.health[:CHART_WORKFLOWS]]
    left_out = subset_note(len(busiest), len(report.health), "busiest", "workflows")
    today = report.generated_at.astimezone(UTC).date()
    if report.daily:
        out.append(_noted(failure_rate_chart(report.daily, busiest, today), left_out))
        out.append(outcome_chart(report.daily, today))
    if report.durations:
        out.append(_noted(duration_chart(report.durations, busiest), left_out))
    if report.scores:
        scored = [r for r in report.experiments if r["scored_runs"]]
        most_scored = sorted(scored, key=lambda r: -r["scored_runs"])[:CHART_BLOCKS]
        blocks = [(str(r["experiment_id"]), str(r["block_id"])) for r in most_scored]
        chart = score_chart(report.scores, blocks)
        out.append(_noted(chart, subset_note(len(blocks), len(scored), "most scored", "experiment blocks")))
    return out


def subset_note(shown: int, total: int, which: str, what: str) -> str | None:
    """'8 busiest of 36 workflows' when a chart leaves some out; None when it shows them all."""
    return f"{shown} {which} of {total} {what}" if shown < total else None


def failure_rate_chart(
    daily: Sequence[Mapping[str, Any]], workflows: Sequence[str], today: date | None = None
) -> Chart:
    """Daily failure rate (%) of each of the workflows, one line each through the days that have a rate."""
    colours = stable_colours(workflows)
    points: dict[str, list[tuple[date, float]]] = {wf: [] for wf in workflows}
    days: set[date] = set()
    for r in daily:
        if str(r["workflow_id"]) in points:
            days.add(r["day"])
            if r["failure_rate"] is not None:
                points[str(r["workflow_id"])].append((r["day"], 100 * float(r["failure_rate"])))
    day_range, ticks = _day_axis(days, today)
    return Chart(
        "failure_rate",
        "Failure rate per day and workflow",
        "Failure rate per day (errors / finished runs)",
        tuple(_series(wf, kept, colours[wf]) for wf, kept in points.items()),
        day_range=day_range,
        x_ticks=ticks,
        partial_day=_partial(days, today),
    )


def outcome_chart(daily: Sequence[Mapping[str, Any]], today: date | None = None) -> Chart:
    """Runs per day of all workflows, stacked by outcome; outcomes never seen are left out."""
    days = sorted({r["day"] for r in daily})
    per_day = {day: dict.fromkeys(OUTCOMES, 0) for day in days}
    for r in daily:
        for outcome in OUTCOMES:
            per_day[r["day"]][outcome] += r[outcome]
    day_range, ticks = _day_axis(days, today)
    return Chart(
        "outcomes",
        "Runs per day by outcome",
        "Runs per day by outcome",
        tuple(
            Series(
                outcome.replace("_", " "),
                tuple(days),
                tuple(per_day[d][outcome] for d in days),
                OUTCOME_COLOURS[outcome],
            )
            for outcome in OUTCOMES
            if any(per_day[d][outcome] for d in days)
        ),
        day_range=day_range,
        x_ticks=ticks,
        partial_day=_partial(days, today),
    )


def duration_chart(durations: Sequence[Mapping[str, Any]], workflows: Sequence[str]) -> Chart:
    """Share of each workflow's completed runs per log-spaced duration bin, as steps over bin edges.

    A row is (workflow_id, bin, runs); bin i holds durations from 10**(i * DURATION_BIN) seconds up to
    the next. A workflow's steps cover every bin between its first and last, and end on a closing edge.
    """
    bins: dict[str, dict[int, int]] = {wf: {} for wf in workflows}
    for r in durations:
        if str(r["workflow_id"]) in bins:
            bins[str(r["workflow_id"])][int(r["bin"])] = int(r["runs"])
    colours = stable_colours(workflows)
    series: list[Series] = []
    for wf, counts in bins.items():
        total = sum(counts.values())
        if not total:
            series.append(Series(wf, (), (), colours[wf]))
            continue
        indexes = range(min(counts), max(counts) + 2)  # every bin in between, and the closing edge
        shares = [100 * counts.get(i, 0) / total for i in indexes[:-1]]
        series.append(Series(wf, tuple(bin_edge(i) for i in indexes), (*shares, shares[-1]), colours[wf]))
    return Chart(
        "durations",
        "Duration distribution of completed runs",
        "Duration distribution",
        tuple(series),
        x_ticks=duration_ticks([x for s in series for x in s.x]),
    )


def score_chart(scores: Sequence[Mapping[str, Any]], blocks: Sequence[tuple[str, str]]) -> Chart:
    """Score of each scored experiment run: one line per experiment and block, its runs in time order."""
    points: dict[tuple[str, str], list[tuple[datetime, float]]] = {block: [] for block in blocks}
    for r in scores:
        key = (str(r["experiment_id"]), str(r["block_id"]))
        if key in points:
            points[key].append((r["created_at"], float(r["score"])))
    labels = [f"{e} / {b}" for e, b in points]
    colours = stable_colours(labels)
    day_range, ticks = _day_axis({at.astimezone(UTC).date() for kept in points.values() for at, _ in kept})
    return Chart(
        "scores",
        "Score trend per experiment and block",
        "Experiment score per run (experiment / block)",
        tuple(
            _series(label, sorted(kept), colours[label])
            for label, kept in zip(labels, points.values(), strict=True)
        ),
        day_range=day_range,
        x_ticks=ticks,
    )


def day_ticks(first: date, last: date) -> tuple[tuple[date, str], ...]:
    """Labels for a day axis: every day, or every few on a long range, counted back from the last.

    >>> day_ticks(date(2026, 11, 30), date(2026, 12, 1))
    ((datetime.date(2026, 11, 30), 'Nov 30'), (datetime.date(2026, 12, 1), 'Dec 1'))
    """
    step = max(1, math.ceil(((last - first).days + 1) / DAY_TICKS))
    days = [last - timedelta(days=back) for back in range(0, (last - first).days + 1, step)]
    return tuple((day, f"{day:%b} {day.day}") for day in reversed(days))


def duration_ticks(seconds: Sequence[float]) -> tuple[tuple[float, str], ...]:
    """The round durations within the range of `seconds`; at least the two that bracket it.

    >>> [label for _, label in duration_ticks([2, 250_000])]
    ['10s', '1m', '10m', '1h', '6h', '1d']
    """
    if not seconds:
        return ()
    low, high = min(seconds), max(seconds)
    inside = [tick for tick in ROUND_DURATIONS if low <= tick[0] <= high]
    if len(inside) >= 2:
        return tuple(inside)
    below = [tick for tick in ROUND_DURATIONS if tick[0] <= low][-1:]
    above = [tick for tick in ROUND_DURATIONS if tick[0] >= high][:1]
    return tuple(sorted(set(below + inside + above)))


def stable_colours(names: Iterable[str]) -> dict[str, str]:
    """A palette colour per name, in the order given: the slot its name hashes to, the same in every report.

    Two names of one chart never share a colour: in sorted order, a name whose slot is taken takes
    the next free one (only then does its colour depend on the others shown).
    """
    names = list(names)
    taken: set[int] = set()
    slots: dict[str, int] = {}
    for name in sorted(set(names)):
        slot = colour_slot(name)
        while slot in taken and len(taken) < len(PALETTE):
            slot = (slot + 1) % len(PALETTE)
        taken.add(slot)
        slots[name] = slot
    return {name: PALETTE[slots[name]] for name in names}


def colour_slot(name: str) -> int:
    """The palette slot of a name: from sha256, so the same in every process (unlike the salted hash())."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % len(PALETTE)


def bin_edge(index: int) -> float:
    """The lower edge, in seconds, of duration bin `index`."""
    return float(10 ** (index * DURATION_BIN))


def _day_axis(
    days: Iterable[date], today: date | None = None
) -> tuple[tuple[date, date] | None, tuple[tuple[date, str], ...]]:
    """A day axis's first and last day, and its ticks with today's marked partial; None and () if no days."""
    ordered = sorted(days)
    if not ordered:
        return None, ()
    ticks = tuple(
        (day, f"{label}\n{PARTIAL_DAY_NOTE}" if day == today else label)
        for day, label in day_ticks(ordered[0], ordered[-1])
    )
    return (ordered[0], ordered[-1]), ticks


def _partial(days: Iterable[date], today: date | None) -> date | None:
    """Today, when the chart draws it: its runs are still coming in."""
    return today if today is not None and today in set(days) else None


def _noted(chart: Chart, note: str | None) -> Chart:
    """The chart with `note` as its legend title and at the end of its caption."""
    if note is None:
        return chart
    return replace(chart, caption=f"{chart.caption} ({note})", legend_title=note)


def _series(label: str, points: Sequence[tuple[Any, float]], colour: str) -> Series:
    """A series from (x, y) points."""
    return Series(label, tuple(x for x, _ in points), tuple(y for _, y in points), colour)
