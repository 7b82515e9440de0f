"""Each analytics view against the hand-built warehouse; expected numbers are worked out by hand."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.load.migrations import migrate
from pipelines.load.views import VIEWS, VIEWS_DIR, create_views, headline_figures, missing_views, view_summary

from .dataset import connect, query

D1, D2 = date(2026, 5, 1), date(2026, 5, 2)
HEALTH_COLUMNS = "runs, completed, error, cancelled, awaiting_review, in_flight, finished, failure_rate"
PERCENTILES = "p50_duration_ms, p90_duration_ms, p99_duration_ms"


def as_tuples(rows: list[dict]) -> list[tuple]:
    return [tuple(r.values()) for r in rows]


def test_every_sql_file_is_a_view_created_in_order() -> None:
    on_disk = sorted(p.stem for p in VIEWS_DIR.glob("*.sql"))
    assert sorted(v.name for v in VIEWS) == on_disk
    assert VIEWS[0].name == "workflow_run_facts"  # the others read it


def test_create_views_is_idempotent_and_reports_names(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    migrate(con)
    assert missing_views(con) == [v.qualified_name for v in VIEWS]
    first = create_views(con)
    second = create_views(con)
    assert first == second == [f"analytics.{v.name}" for v in VIEWS]
    assert missing_views(con) == []
    count = con.execute("SELECT count(*) FROM duckdb_views() WHERE schema_name = 'analytics'").fetchone()
    assert count == (len(VIEWS),)
    con.close()


def test_create_views_rolls_back_when_a_table_is_missing(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")  # no retab tables: the first view cannot bind
    with pytest.raises(duckdb.CatalogException):
        create_views(con)
    assert con.execute(
        "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'analytics'"
    ).fetchone() == (0,)
    con.close()


def test_workflow_daily_health(warehouse: Path) -> None:
    rows = query(
        warehouse,
        f"SELECT day, workflow_id, {HEALTH_COLUMNS}, {PERCENTILES} "
        "FROM analytics.workflow_daily_health ORDER BY day, workflow_id",
    )
    assert as_tuples(rows) == [
        # day, workflow, runs, completed, error, cancelled, review, in flight, finished, rate, p50, p90, p99
        (D1, "wf_a", 11, 4, 2, 1, 1, 3, 7, pytest.approx(2 / 7), 2500, pytest.approx(3700), 3970),
        (D1, "wf_b", 2, 1, 1, 0, 0, 0, 2, 0.5, 10000, 10000, 10000),
        (D2, "wf_a", 2, 1, 1, 0, 0, 0, 2, 0.5, 5000, 5000, 5000),
        (D2, "wf_b", 2, 2, 0, 0, 0, 0, 2, 0.0, 2000, 2400, 2490),
        (D2, "wf_c", 12, 12, 0, 0, 0, 0, 12, 0.0, 600, 1090, 1189),
    ]


def test_workflow_version_daily_health(warehouse: Path) -> None:
    rows = query(
        warehouse,
        f"SELECT day, workflow_id, workflow_version_id, {HEALTH_COLUMNS}, {PERCENTILES} "
        "FROM analytics.workflow_version_daily_health ORDER BY day, workflow_id, workflow_version_id",
    )
    assert as_tuples(rows) == [
        (D1, "wf_a", "va1", 8, 3, 0, 1, 1, 3, 4, 0.0, 2000, 2800, 2980),
        (D1, "wf_a", "va2", 3, 1, 2, 0, 0, 0, 3, pytest.approx(2 / 3), 4000, 4000, 4000),
        (D1, "wf_b", "vb1", 2, 1, 1, 0, 0, 0, 2, 0.5, 10000, 10000, 10000),
        (D2, "wf_a", "va2", 2, 1, 1, 0, 0, 0, 2, 0.5, 5000, 5000, 5000),
        (D2, "wf_b", "vb1", 2, 2, 0, 0, 0, 0, 2, 0.0, 2000, 2400, 2490),
        (D2, "wf_c", "vc1", 12, 12, 0, 0, 0, 0, 12, 0.0, 600, 1090, 1189),
    ]


def test_health_has_no_failure_rate_when_nothing_finished(warehouse: Path) -> None:
    con = connect(warehouse)
    con.execute(
        "INSERT INTO retab.workflow_runs (id, workflow_id, status, created_at, created_date, raw, synced_at) "
        "VALUES ('z1', 'wf_z', 'running', '2026-05-03 01:00:00+00', '2026-05-03', '{}', now())"
    )
    con.close()
    rows = query(warehouse, "SELECT * FROM analytics.workflow_daily_health WHERE workflow_id = 'wf_z'")
    assert len(rows) == 1
    assert (rows[0]["runs"], rows[0]["in_flight"], rows[0]["finished"]) == (1, 1, 0)
    assert rows[0]["failure_rate"] is None
    assert rows[0]["p50_duration_ms"] is None


@pytest.mark.parametrize(
    ("message", "pattern"),
    [
        ("Extract block failed: schema validation", "Extract block failed: schema validation"),
        ("Timeout after 30000 ms fetching file_8f3a2", "Timeout after <*> ms fetching <*>"),
        ("Field 'invoice_total' missing in document doc_12", "Field <*> missing in document <*>"),
        ('Key "a b" is invalid at 3.5s', "Key <*> is invalid at <*>s"),
        ("HTTP 503 from https://api.example.com/v1/files?id=7", "HTTP <*> from <*>"),
        ("run 123e4567-e89b-12d3-a456-426614174000 not found", "run <*> not found"),
        ("Quota exceeded for org 4f9a12345678", "Quota exceeded for org <*>"),
        ("can't parse value:'x' in extract-block-1", "can't parse value:<*> in <*>"),
        ("  padded  ", "padded"),
        ("", None),
    ],
    ids=[
        "no-variables",
        "number-and-id",
        "quoted",
        "double-quoted",
        "url",
        "uuid",
        "hex",
        "apostrophe",
        "trim",
        "empty",
    ],
)
def test_error_messages_are_normalised(warehouse: Path, message: str, pattern: str | None) -> None:
    con = connect(warehouse)
    con.execute(
        "INSERT INTO retab.workflow_runs (id, workflow_id, status, error_message, created_at, created_date, "
        "raw, synced_at) VALUES ('m1', 'wf_m', 'error', ?, '2026-05-03 01:00', '2026-05-03', '{}', now())",
        [message],
    )
    con.close()
    rows = query(warehouse, "SELECT error_pattern FROM analytics.workflow_run_facts WHERE run_id = 'm1'")
    assert rows == [{"error_pattern": pattern}]


def test_workflow_errors(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "SELECT day, workflow_id, workflow_version_id, error_stage, error_category, failing_step_id, "
        "error_pattern, errors, example_message, example_run_id "
        "FROM analytics.workflow_errors ORDER BY day, workflow_id",
    )
    assert as_tuples(rows) == [
        (
            D1, "wf_a", "va2", "execution", "permanent", "extract-block-1",
            "Field <*> missing in document <*>", 2, "Field 'total' missing in document doc_1", "a5",
        ),
        (
            D1, "wf_b", "vb1", "document_fetch", "transient", None,
            "Timeout after <*> ms fetching <*>", 1, "Timeout after 30000 ms fetching file_8f3a2", "b2",
        ),
        (
            D2, "wf_a", "va2", "document_fetch", "transient", None,
            "Timeout after <*> ms fetching <*>", 1, "Timeout after 45000 ms fetching file_77", "a13",
        ),
    ]  # fmt: skip


def test_run_durations(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "SELECT day, workflow_id, workflow_version_id, trigger_type, completed_runs, mean_duration_ms, "
        "p50_duration_ms, p90_duration_ms, p95_duration_ms, p99_duration_ms, max_duration_ms "
        "FROM analytics.run_durations ORDER BY ALL",
    )
    assert as_tuples(rows) == [
        (D1, "wf_a", "va1", "api", 2, 1500, 1500, 1900, 1950, 1990, 2000),
        (D1, "wf_a", "va1", "manual", 1, 3000, 3000, 3000, 3000, 3000, 3000),
        (D1, "wf_a", "va2", "api", 1, 4000, 4000, 4000, 4000, 4000, 4000),
        (D1, "wf_b", "vb1", "email", 1, 10000, 10000, 10000, 10000, 10000, 10000),
        (D2, "wf_a", "va2", "api", 1, 5000, 5000, 5000, 5000, 5000, 5000),
        # b3's duration comes from its timestamps (2500) as duration_ms is NULL
        (D2, "wf_b", "vb1", "api", 2, 2000, 2000, 2400, 2450, 2490, 2500),
        (
            D2,
            "wf_c",
            "vc1",
            "schedule",
            12,
            pytest.approx(7700 / 12),
            600,
            1090,
            pytest.approx(1145),
            1189,
            1200,
        ),
    ]


def test_slowest_runs_keeps_ten_per_workflow_and_day(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "SELECT day, workflow_id, rank, run_id, status, duration_ms FROM analytics.slowest_runs "
        "ORDER BY day, workflow_id, rank",
    )
    by_group: dict[tuple, list[tuple]] = {}
    for r in rows:
        by_group.setdefault((r["day"], r["workflow_id"]), []).append(
            (r["rank"], r["run_id"], r["duration_ms"])
        )
    assert by_group == {
        (D1, "wf_a"): [
            (1, "a4", 4000), (2, "a3", 3000), (3, "a2", 2000), (4, "a1", 1000),
            (5, "a6", 700), (6, "a5", 500), (7, "a7", 300),
        ],
        (D1, "wf_b"): [(1, "b2", 30000), (2, "b1", 10000)],
        (D2, "wf_a"): [(1, "a13", 45000), (2, "a12", 5000)],
        (D2, "wf_b"): [(1, "b3", 2500), (2, "b4", 1500)],
        # c01 (100) and c02 (200) fall outside the ten; c06 and c07 tie at 600 and rank by id
        (D2, "wf_c"): [
            (1, "c12", 1200), (2, "c11", 1100), (3, "c10", 1000), (4, "c09", 900), (5, "c08", 800),
            (6, "c06", 600), (7, "c07", 600), (8, "c05", 500), (9, "c04", 400), (10, "c03", 300),
        ],
    }  # fmt: skip
    statuses = {r["run_id"]: r["status"] for r in rows}
    assert (statuses["a6"], statuses["a7"], statuses["b2"]) == ("failed", "cancelled", "error")


def test_experiment_scores(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "SELECT run_id, run_number, score, previous_run_id, previous_score, score_change, best_score, "
        "latest_score, block_runs, is_latest, n_consensus, documents "
        "FROM analytics.experiment_scores ORDER BY experiment_id, block_id, run_number",
    )
    approx = pytest.approx
    assert as_tuples(rows) == [
        # run, number, score, previous run, previous score, change, best, latest, runs, is latest, n, docs
        ("e5", 1, 0.5, None, None, None, 0.5, 0.5, 1, True, 3, 4),
        ("e1", 1, 0.8, None, None, None, 0.9, 0.85, 4, False, 3, 10),
        ("e2", 2, None, "e1", 0.8, None, 0.9, 0.85, 4, False, 3, 10),  # errored: no score, no change
        ("e3", 3, 0.9, "e1", 0.8, approx(0.1), 0.9, 0.85, 4, False, 5, 10),  # compared with e1, skipping e2
        ("e4", 4, 0.85, "e3", 0.9, approx(-0.05), 0.9, 0.85, 4, True, 5, 12),
        ("e6", 1, 0.6, None, None, None, 0.6, 0.6, 2, False, 7, 8),  # documents from document_count
        ("e7", 2, None, "e6", 0.6, None, 0.6, 0.6, 2, True, 7, 8),  # same block id, other experiment
    ]


def test_trigger_mix(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "SELECT day, workflow_id, trigger_type, runs, error, share FROM analytics.trigger_mix ORDER BY ALL",
    )
    assert as_tuples(rows) == [
        (D1, "wf_a", "api", 7, 1, approx_share(7, 11)),
        (D1, "wf_a", "manual", 1, 0, approx_share(1, 11)),
        (D1, "wf_a", "schedule", 1, 1, approx_share(1, 11)),  # a6, status failed, counts as an error
        (D1, "wf_a", "unknown", 1, 0, approx_share(1, 11)),  # a10 has no trigger type
        (D1, "wf_a", "webhook", 1, 0, approx_share(1, 11)),
        (D1, "wf_b", "email", 2, 1, 1.0),
        (D2, "wf_a", "api", 2, 1, 1.0),
        (D2, "wf_b", "api", 2, 0, 1.0),
        (D2, "wf_c", "schedule", 12, 0, 1.0),
    ]


def test_document_mime_mix(warehouse: Path) -> None:
    rows = query(
        warehouse, "SELECT day, mime_type, documents, share FROM analytics.document_mime_mix ORDER BY ALL"
    )
    assert as_tuples(rows) == [
        (D1, "application/pdf", 2, 0.4),  # 'Application/PDF' folds into it
        (D1, "image/png", 2, 0.4),
        (D1, "unknown", 1, 0.2),  # NULL mime type
        (D2, "application/pdf", 1, 0.5),
        (D2, "text/csv", 1, 0.5),
    ]


def test_views_are_empty_on_an_empty_warehouse(empty_warehouse: Path) -> None:
    for view in VIEWS:
        assert query(empty_warehouse, f"SELECT count(*) AS n FROM {view.qualified_name}") == [{"n": 0}]


def test_view_summary_of_health(warehouse: Path) -> None:
    con = connect(warehouse, read_only=True)
    summary = view_summary(con, "analytics.workflow_daily_health")
    con.close()
    # errors 2 + 1 + 1 + 0 + 0 over finished 7 + 2 + 2 + 2 + 12
    assert {k: v for k, v in summary.items() if k != "preview"} == {
        "row_count": 5,
        "runs_error": 4,
        "runs_finished": 25,
        "failure_rate": pytest.approx(0.16),
    }
    lines = summary["preview"].splitlines()
    assert lines[0].startswith("| day | workflow_id | runs |")
    assert len(lines) == 2 + 5
    assert lines[2].startswith("| 2026-05-02 | wf_c | 12 |")  # newest day first, busiest first


@pytest.mark.parametrize(
    ("view", "figures"),
    [
        # all 20 completed durations; p95 at rank 18.05 between 5000 and 10000
        ("run_durations", {"row_count": 7, "p95_duration_ms": 5250, "p50_duration_ms": 1000}),
        ("slowest_runs", {"row_count": 23, "max_duration_ms": 45000, "p95_duration_ms": 5250}),
        # scores 0.8, 0.9, 0.85, 0.5, 0.6; latest per block 0.85, 0.5 and (e7 unscored) none
        (
            "experiment_scores",
            {"row_count": 7, "scored_runs": 5, "mean_score": 0.73, "mean_latest_score": 0.675},
        ),
        ("workflow_errors", {"row_count": 3, "errors": 4, "error_patterns": 2}),
        ("trigger_mix", {"row_count": 9, "runs": 29, "trigger_types": 6}),
        ("document_mime_mix", {"row_count": 5, "documents": 7, "mime_types": 4}),
        ("workflow_run_facts", {"row_count": 29, "failure_rate": 0.16}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_view_summary_figures(warehouse: Path, view: str, figures: dict) -> None:
    con = connect(warehouse, read_only=True)
    summary = view_summary(con, view)
    con.close()
    assert {k: v for k, v in summary.items() if k != "preview"} == {
        k: pytest.approx(v) for k, v in figures.items()
    }
    assert summary["preview"].count("\n") == min(summary["row_count"], 10) + 1


def test_view_summary_on_an_empty_warehouse_has_no_figures(empty_warehouse: Path) -> None:
    con = connect(empty_warehouse, read_only=True)
    summary = view_summary(con, "workflow_daily_health")
    figures = headline_figures(con)
    con.close()
    assert summary["row_count"] == 0
    assert summary["failure_rate"] is None
    assert summary["preview"].count("\n") == 1  # header only
    assert figures == {"runs": 0, "failure_rate": None, "p95_duration_ms": None, "mean_score": None}


def test_headline_figures(warehouse: Path) -> None:
    con = connect(warehouse, read_only=True)
    figures = headline_figures(con)
    con.close()
    assert figures == {
        "runs": 29,
        "failure_rate": pytest.approx(0.16),
        "p95_duration_ms": pytest.approx(5250),
        "mean_score": pytest.approx(0.73),
    }


def approx_share(part: int, whole: int) -> object:
    return pytest.approx(part / whole)
