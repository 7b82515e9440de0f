"""What the HTML report's charts show (pipelines.report.chart_data), mostly checked without drawing them."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import matplotlib.dates as mdates
import pytest

from pipelines.report import Report, Window, chart_data, load_report
from pipelines.report.chart_data import (
    DURATION_BIN,
    PALETTE,
    ROUND_DURATIONS,
    Chart,
    day_ticks,
    describe_charts,
    duration_chart,
    score_chart,
    stable_colours,
)
from pipelines.report.plotting import figure

WINDOW = Window(date(2026, 5, 1), date(2026, 5, 2))
NOW = datetime(2026, 5, 3, 8, 0, tzinfo=UTC)


def charts_of(db: Path, *, now: datetime = NOW) -> dict[str, Chart]:
    """The fixture window's charts by kind."""
    return {chart.kind: chart for chart in describe_charts(load_report(db, WINDOW, now=now))}


def test_the_fixture_window_has_four_charts_of_its_workflows(warehouse: Path) -> None:
    charts = charts_of(warehouse)
    assert list(charts) == ["failure_rate", "outcomes", "durations", "scores"]
    failure = charts["failure_rate"]
    assert [s.label for s in failure.series] == ["wf_a", "wf_c", "wf_b"]  # busiest first
    assert failure.series[0].y == (pytest.approx(100 * 2 / 7), pytest.approx(50.0))  # wf_a's two days
    assert [s.label for s in charts["outcomes"].series] == [
        "completed",
        "error",
        "cancelled",
        "awaiting review",
        "in flight",
    ]
    assert sum(sum(s.y) for s in charts["outcomes"].series) == 29
    assert [s.label for s in charts["scores"].series] == [
        "exp_1 / extract-invoice",
        "exp_2 / extract-invoice",
        "exp_1 / classify",
    ]  # most scored runs first
    durations = charts["durations"]
    assert durations.series[1].x[0] == pytest.approx(0.1)  # wf_c's fastest run, 100 ms
    assert sum(durations.series[1].y[:-1]) == pytest.approx(100)  # shares of all its completed runs


def duration_rows(workflow: str, *seconds: float) -> list[dict[str, object]]:
    """One run in the duration bin of each of `seconds`, as _DURATIONS_SQL returns them."""
    return [
        {"workflow_id": workflow, "bin": math.floor(math.log10(s) / DURATION_BIN), "runs": 1} for s in seconds
    ]


@pytest.mark.parametrize(
    ("seconds", "labels"),
    [
        ((2, 3 * 86400), ["10s", "1m", "10m", "1h", "6h", "1d"]),
        ((0.1, 10), ["100ms", "1s", "10s"]),
        ((2, 5), ["1s", "10s"]),
        ((2, 30), ["1s", "10s", "1m"]),
    ],
    ids=["seconds-to-days", "fixture-range", "inside-one-decade", "one-round-value-inside"],
)
def test_duration_ticks_are_round_human_durations(seconds: tuple[float, float], labels: list[str]) -> None:
    chart = duration_chart(duration_rows("wf_a", *seconds), ["wf_a"])
    assert [label for _, label in chart.x_ticks] == labels
    assert {label for _, label in chart.x_ticks} <= {label for _, label in ROUND_DURATIONS}
    for value, label in chart.x_ticks:
        assert dict(ROUND_DURATIONS)[value] == label


def test_duration_ticks_span_the_drawn_bins(warehouse: Path) -> None:
    chart = charts_of(warehouse)["durations"]
    values = [value for value, _ in chart.x_ticks]
    edges = [x for s in chart.series for x in s.x]
    assert values == [0.1, 1, 10]
    assert min(edges) <= values[0] and values[-1] <= max(edges)


def many_workflows_report(workflows: int) -> Report:
    """A report of `workflows` workflows, wf_00 the busiest, each with a day of runs and a duration."""
    ids = [f"wf_{i:02d}" for i in range(workflows)]
    day = {
        "day": WINDOW.last,
        "completed": 1,
        "error": 0,
        "cancelled": 0,
        "awaiting_review": 0,
        "in_flight": 0,
    }
    return Report(
        db_path=Path("unused.duckdb"),
        window=WINDOW,
        generated_at=NOW,
        health=[{"workflow_id": wf, "runs": workflows - i} for i, wf in enumerate(ids)],
        daily=[{**day, "workflow_id": wf, "runs": 1, "failure_rate": 0.0} for wf in ids],
        durations=[{"workflow_id": wf, "bin": 0, "runs": 1} for wf in ids],
    )


def test_charts_of_the_busiest_workflows_say_how_many_were_left_out() -> None:
    charts = {chart.kind: chart for chart in describe_charts(many_workflows_report(36))}
    for kind in ("failure_rate", "durations"):
        assert [s.label for s in charts[kind].series] == [f"wf_{i:02d}" for i in range(8)]
        assert charts[kind].legend_title == "8 busiest of 36 workflows"
        assert charts[kind].caption.endswith("(8 busiest of 36 workflows)")
    assert charts["outcomes"].legend_title is None  # its bars count every workflow


def test_charts_showing_every_workflow_add_no_note() -> None:
    charts = describe_charts(many_workflows_report(8))
    assert [chart.legend_title for chart in charts] == [None, None, None]
    assert "busiest" not in " ".join(chart.caption for chart in charts)


def test_the_score_chart_says_how_many_blocks_were_left_out(warehouse: Path, monkeypatch) -> None:
    monkeypatch.setattr(chart_data, "CHART_BLOCKS", 2)
    scores = charts_of(warehouse)["scores"]
    assert [s.label for s in scores.series] == ["exp_1 / extract-invoice", "exp_2 / extract-invoice"]
    assert scores.legend_title == "2 most scored of 3 experiment blocks"


def colours_by_label(chart: Chart) -> dict[str, str | None]:
    return {s.label: s.colour for s in chart.series}


def test_a_workflow_has_one_colour_in_every_chart(warehouse: Path) -> None:
    charts = charts_of(warehouse)
    failure, durations = colours_by_label(charts["failure_rate"]), colours_by_label(charts["durations"])
    assert failure == durations
    assert set(failure.values()) <= set(PALETTE)
    assert len(set(failure.values())) == len(failure)  # one colour per line


def test_a_workflows_colour_does_not_depend_on_the_data() -> None:
    """The colour is the workflow id's, not its place among the busiest: other data, same colours."""
    wide, narrow = many_workflows_report(36), many_workflows_report(3)
    narrow.health.reverse()  # wf_02 now the busiest
    wide_colours = colours_by_label(describe_charts(wide)[0])
    narrow_colours = colours_by_label(describe_charts(narrow)[0])
    assert list(narrow_colours) == ["wf_02", "wf_01", "wf_00"]
    assert {wf: wide_colours[wf] for wf in narrow_colours} == narrow_colours


def test_colours_are_pinned_to_the_ids() -> None:
    """A sha256 of the id picks the slot (wf_a and wf_b share slot 5, so wf_b takes the next)."""
    assert stable_colours(["wf_a", "wf_b", "wf_c"]) == {
        "wf_a": "#8c564b",
        "wf_b": "#e377c2",
        "wf_c": "#17becf",
    }


@pytest.mark.parametrize("seed", ["1", "2"], ids=["hashseed-1", "hashseed-2"])
def test_colours_are_the_same_in_another_process(seed: str) -> None:
    code = (
        "from pipelines.report.chart_data import stable_colours\n"
        "print(stable_colours(['wf_a', 'wf_b', 'wf_c']))"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert done.stdout.strip() == str(stable_colours(["wf_a", "wf_b", "wf_c"]))


def test_ids_that_hash_to_one_colour_still_get_two() -> None:
    first, second = colliding_ids()
    colours = stable_colours([second, first])
    assert list(colours) == [second, first]  # in the order given
    assert colours[first] == stable_colours([first])[first]  # the first in sorted order keeps its colour
    assert colours[second] != colours[first]


def colliding_ids() -> tuple[str, str]:
    """Two workflow ids whose colours alone are the same, in sorted order."""
    seen: dict[str, str] = {}
    for i in range(100):
        wf = f"wf_{i:02d}"
        colour = stable_colours([wf])[wf]
        if colour in seen:
            return seen[colour], wf
        seen[colour] = wf
    raise AssertionError("no two of 100 ids share a colour")


def score_rows(block: str, *points: tuple[str, float]) -> list[dict[str, object]]:
    """Scored runs of exp_1/`block` as _SCORES_SQL returns them, at the given UTC times."""
    return [
        {"experiment_id": "exp_1", "block_id": block, "created_at": utc(at), "score": score}
        for at, score in points
    ]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_score_line_follows_its_runs_in_time() -> None:
    rows = score_rows("a", ("2026-11-29 10:00", 0.7), ("2026-11-27 10:00", 0.5), ("2026-11-28 10:00", 0.6))
    rows += score_rows("b", ("2026-11-28 09:00", 0.2), ("2026-11-27 09:00", 0.1))
    chart = score_chart(rows, [("exp_1", "a"), ("exp_1", "b")])
    a, b = chart.series
    assert (a.label, a.x, a.y) == (
        "exp_1 / a",
        (utc("2026-11-27 10:00"), utc("2026-11-28 10:00"), utc("2026-11-29 10:00")),
        (0.5, 0.6, 0.7),
    )
    assert (b.label, b.y) == ("exp_1 / b", (0.1, 0.2))


def test_the_score_axis_names_days() -> None:
    rows = score_rows("a", ("2026-11-27 10:00", 0.5), ("2026-11-30 23:00", 0.6), ("2026-12-01 01:00", 0.7))
    chart = score_chart(rows, [("exp_1", "a")])
    assert chart.x_ticks == (
        (date(2026, 11, 27), "Nov 27"),
        (date(2026, 11, 28), "Nov 28"),
        (date(2026, 11, 29), "Nov 29"),
        (date(2026, 11, 30), "Nov 30"),
        (date(2026, 12, 1), "Dec 1"),
    )
    assert chart.day_range == (date(2026, 11, 27), date(2026, 12, 1))


def test_the_day_charts_name_their_days(warehouse: Path) -> None:
    charts = charts_of(warehouse)
    for kind in ("failure_rate", "outcomes"):
        assert charts[kind].x_ticks == ((date(2026, 5, 1), "May 1"), (date(2026, 5, 2), "May 2"))


def test_a_long_day_axis_names_every_few_days_back_from_the_last() -> None:
    ticks = day_ticks(date(2026, 11, 1), date(2026, 12, 15))  # 45 days: every 4th
    assert ticks[-1] == (date(2026, 12, 15), "Dec 15")
    assert ticks[0] == (date(2026, 11, 1), "Nov 1")
    assert len(ticks) == 12


DURING_THE_LAST_DAY = datetime(2026, 5, 2, 15, 0, tzinfo=UTC)


def test_todays_partial_day_is_marked_on_the_day_charts(warehouse: Path) -> None:
    charts = charts_of(warehouse, now=DURING_THE_LAST_DAY)
    for kind in ("failure_rate", "outcomes"):
        assert charts[kind].partial_day == date(2026, 5, 2)
        assert charts[kind].x_ticks == (
            (date(2026, 5, 1), "May 1"),
            (date(2026, 5, 2), "May 2\ntoday (partial)"),
        )
    assert charts["durations"].partial_day is None and charts["scores"].partial_day is None


def test_a_window_that_ended_before_today_has_no_partial_day(warehouse: Path) -> None:
    assert [chart.partial_day for chart in charts_of(warehouse, now=NOW).values()] == [None] * 4


def test_the_partial_day_is_drawn_hatched_and_dashed(warehouse: Path) -> None:
    charts = charts_of(warehouse, now=DURING_THE_LAST_DAY)
    bars = figure(charts["outcomes"]).axes[0].patches
    assert {bar.get_hatch() for bar in bars if bar.get_x() > mdates.date2num(date(2026, 5, 2))} == {"///"}
    assert {bar.get_hatch() for bar in bars if bar.get_x() < mdates.date2num(date(2026, 5, 2))} == {None}
    lines = figure(charts["failure_rate"]).axes[0].get_lines()
    assert any(line.get_linestyle() == "--" for line in lines)
