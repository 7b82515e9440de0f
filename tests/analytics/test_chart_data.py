"""What the HTML report's charts show (pipelines.report.chart_data), checked without drawing them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pipelines.report import Window, load_report
from pipelines.report.chart_data import Chart, describe_charts

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
