"""`retab-warehouse report`: the figures it shows, the terminal tables and the HTML file."""

from __future__ import annotations

import argparse
import base64
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from rich.console import Console

from pipelines import report as report_module
from pipelines.cli import report_command
from pipelines.report import Window, chart_data, load_report, print_report, render_html

from .dataset import build_warehouse, connect

TODAY = date(2026, 5, 2)
BOTH_DAYS = Window(date(2026, 5, 1), TODAY)
NOW = datetime(2026, 5, 3, 8, 0, tzinfo=UTC)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_report(*argv: str, today: date = TODAY) -> int:
    parser = argparse.ArgumentParser()
    report_command.add_arguments(parser)
    args = parser.parse_args(list(argv))
    args.today = today
    return report_command.run(args)


def terminal_text(window: Window, db: Path) -> str:
    console = Console(record=True, width=200, file=io.StringIO())
    print_report(load_report(db, window, now=NOW), console)
    return console.export_text()


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_window_figures(warehouse: Path) -> None:
    report = load_report(warehouse, BOTH_DAYS, now=NOW)
    # wf_a: 13 runs, completed a1-a4 and a12, errors a5, a6, a13, finished 5 + 3 + 1 (a7)
    assert [(r["workflow_id"], r["runs"], r["error"], r["failure_rate"]) for r in report.health] == [
        ("wf_a", 13, 3, pytest.approx(3 / 9)),
        ("wf_c", 12, 0, 0.0),
        ("wf_b", 4, 1, 0.25),
    ]
    assert (report.totals["runs"], report.totals["failure_rate"]) == (29, pytest.approx(0.16))
    assert report.totals["p95_duration_ms"] == pytest.approx(5250)
    assert [(r["error_pattern"], r["errors"], r["workflows"]) for r in report.errors] == [
        ("Field <*> missing in document <*>", 2, 1),
        ("Timeout after <*> ms fetching <*>", 2, 2),
    ]
    assert [r["run_id"] for r in report.slowest][:3] == ["a13", "b2", "b1"]
    assert [(r["experiment_id"], r["block_id"], r["latest_score"]) for r in report.experiments] == [
        ("exp_1", "extract-invoice", 0.85),
        ("exp_2", "extract-invoice", 0.6),
        ("exp_1", "classify", 0.5),
    ]
    assert [(r["mime_type"], r["documents"]) for r in report.mimes] == [
        ("application/pdf", 3),
        ("image/png", 2),
        ("text/csv", 1),
        ("unknown", 1),
    ]
    assert report.last_sync_at == datetime(2026, 5, 3, 2, 16, tzinfo=UTC)


def test_window_of_one_day_and_one_workflow(warehouse: Path) -> None:
    report = load_report(warehouse, Window(TODAY, TODAY, "wf_b"), now=NOW)
    assert [(r["workflow_id"], r["runs"], r["completed"]) for r in report.health] == [("wf_b", 2, 2)]
    assert report.errors == []
    assert [(r["trigger_type"], r["runs"]) for r in report.triggers] == [("api", 2)]
    assert [(r["mime_type"], r["documents"]) for r in report.mimes] == [("text/csv", 1)]  # b3's document
    assert [(r["experiment_id"], r["runs"]) for r in report.experiments] == [("exp_2", 2)]


def test_terminal_report(warehouse: Path) -> None:
    text = terminal_text(BOTH_DAYS, warehouse)
    for expected in (
        "2026-05-01 .. 2026-05-02 (2 days, UTC), all workflows",
        "last successful sync 2026-05-03 02:16 UTC",
        "Workflow health",
        "33.3%",  # wf_a
        "16.0%",  # all workflows
        "Field <*> missing in document <*>",
        "45.0 s",  # a13, the slowest
        "-0.050",  # e4 against e3
        "application/pdf",
    ):
        assert expected in text, expected
    health = text[text.index("Workflow health") : text.index("Top errors")]
    assert re.search(r"^\s*all\s+29\s+20\s+4\s+1\s+1\s+3\s+16\.0%", health, re.MULTILINE)


def test_run_prints_and_writes_html(warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    html_path = tmp_path / "out" / "report.html"
    assert run_report("--db", str(warehouse), "--days", "2", "--html", str(html_path)) == 0
    out = capsys.readouterr().out
    assert "wf_a" in out and f"HTML report: {html_path.resolve()}" in out
    page = html_path.read_text(encoding="utf-8")
    assert len(embedded_pngs(page)) == 4


def test_html_is_self_contained_with_four_charts(warehouse: Path) -> None:
    page = render_html(load_report(warehouse, BOTH_DAYS, now=NOW))
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page)  # nothing fetched from the network
    assert "<script" not in page
    images = embedded_pngs(page)
    assert len(images) == 4
    assert all(image.startswith(PNG_MAGIC) and len(image) > 10_000 for image in images)
    for caption in ("Failure rate per day and workflow", "Duration distribution", "Score trend"):
        assert caption in page
    assert "Field &lt;*&gt; missing in document &lt;*&gt;" in page  # escaped


def test_html_captions_say_when_charts_leave_workflows_out(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "busiest" not in render_html(load_report(warehouse, BOTH_DAYS, now=NOW))  # all 3 drawn
    monkeypatch.setattr(chart_data, "CHART_WORKFLOWS", 2)
    page = render_html(load_report(warehouse, BOTH_DAYS, now=NOW))
    assert "Failure rate per day and workflow (2 busiest of 3 workflows)</figcaption>" in page
    assert "Duration distribution of completed runs (2 busiest of 3 workflows)</figcaption>" in page


def test_empty_warehouse_says_what_to_do(empty_warehouse: Path, tmp_path: Path) -> None:
    report = load_report(empty_warehouse, BOTH_DAYS, now=NOW)
    assert not report.has_data
    assert report.message is not None and "holds no runs yet" in report.message
    assert "retab-warehouse sync" in terminal_text(BOTH_DAYS, empty_warehouse)
    page = render_html(report)
    assert "holds no runs yet" in page and embedded_pngs(page) == []


def test_window_without_runs_names_the_stored_range(warehouse: Path) -> None:
    report = load_report(warehouse, Window(date(2026, 6, 1), date(2026, 6, 14)), now=NOW)
    assert report.message is not None
    assert "No runs between 2026-06-01 and 2026-06-14" in report.message
    assert "29 workflow runs created 2026-05-01 .. 2026-05-02" in report.message


def test_unknown_workflow_suggests_another(warehouse: Path) -> None:
    report = load_report(warehouse, Window(date(2026, 5, 1), TODAY, "wf_nope"), now=NOW)
    assert report.message is not None and "of workflow wf_nope" in report.message


def test_file_without_tables_reports_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.duckdb"
    connect(path).close()
    report = load_report(path, BOTH_DAYS, now=NOW)
    assert report.message is not None and "holds no runs yet" in report.message


def test_missing_views_are_an_error_with_advice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = build_warehouse(tmp_path / "noviews.duckdb", with_views=False)
    assert run_report("--db", str(path)) == 1
    err = capsys.readouterr().err
    assert "analytics views are missing" in err and "create_views" in err and "Traceback" not in err


def test_missing_warehouse_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_report("--db", str(tmp_path / "none.duckdb")) == 1
    assert "does not exist yet" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, "—"), (850, "850 ms"), (12_340, "12.3 s"), (245_000, "4m 05s"), (7_380_000, "2h 03m")],
    ids=["none", "ms", "seconds", "minutes", "hours"],
)
def test_durations_read_well(ms: float | None, text: str) -> None:
    assert report_module.fmt_ms(ms) == text


def test_long_tables_are_cut_with_a_note(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "TABLE_ROWS", 2)
    report = load_report(warehouse, BOTH_DAYS, now=NOW)
    health = report_module.sections(report)[0]
    assert [row[0] for row in health.rows] == ["wf_a", "wf_c", "all"]
    assert health.note == "1 more workflows not shown (--workflow ID reports on one)"
    assert "1 more workflows not shown" in render_html(report)


def test_outdated_views_are_explained(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    con = connect(warehouse)  # an older slowest_runs without the columns the report reads
    con.execute(
        "CREATE OR REPLACE VIEW analytics.slowest_runs AS "
        "SELECT created_date AS day, workflow_id FROM retab.workflow_runs"
    )
    con.close()
    assert run_report("--db", str(warehouse)) == 1
    err = capsys.readouterr().err
    assert "Binder Error" in err and "older than this code" in err and "Traceback" not in err
