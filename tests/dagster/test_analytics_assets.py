"""The analytics views as Dagster assets: lineage, figures on a hand-built warehouse, and their trigger.

The hand-built warehouse (durations in ms; D1 = 2026-05-09, D2 = 2026-05-10):

| run | day | workflow | version | trigger  | status    | duration | documents          |
|-----|-----|----------|---------|----------|-----------|----------|--------------------|
| r1  | D1  | wf_a     | v1      | api      | completed | 1000     | application/pdf    |
| r2  | D1  | wf_a     | v1      | api      | completed | 3000     | image/png          |
| r3  | D1  | wf_a     | v2      | schedule | error     | 500      | (no MIME type)     |
| r4  | D1  | wf_b     | v3      | api      | cancelled | 200      |                    |
| r5  | D1  | wf_b     | v3      | manual   | running   | -        |                    |
| r6  | D2  | wf_b     | v3      | api      | completed | 2000     | Application/PDF    |

Experiment runs: exp_1/block_b x1 0.8 then x2 0.6; exp_1/block_c x3 error (no score).

Worked out by hand: 5 finished runs (r1-r4, r6), 1 error, failure rate 1/5 = 0.2; completed
durations 1000, 2000, 3000: p50 2000, p95 2000 + 0.9 x 1000 = 2900 (linear interpolation); mean
score (0.8 + 0.6) / 2 = 0.7, mean latest score 0.6 (block_b's latest; block_c's has none).
"""

import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import handmade_warehouse as hw
import pytest

from assets.analytics import (
    AFTER_SYNC,
    GROUP,
    analytics_automation,
    analytics_views,
    references,
    view_key,
)
from assets.definitions import defs
from assets.partitions import DAILY
from assets.resources import WarehouseResource
from assets.retab import (
    EXPERIMENT_RUNS_KEY,
    POOL,
    WORKFLOW_RUNS_KEY,
    retab_experiment_runs,
    retab_workflow_runs,
)
from pipelines.load.connections import open_reader, sql_literal
from pipelines.load.views import VIEWS

WR, ER = WORKFLOW_RUNS_KEY, EXPERIMENT_RUNS_KEY
FACTS = view_key("workflow_run_facts")

# What each view reads, from its SQL file, written out by hand.
EXPECTED_PARENTS = {
    "workflow_run_facts": {WR},
    "workflow_daily_health": {WR, FACTS},
    "workflow_version_daily_health": {WR, FACTS},
    "workflow_errors": {WR, FACTS},
    "run_durations": {WR, FACTS},
    "slowest_runs": {WR, FACTS},
    "trigger_mix": {WR, FACTS},
    "experiment_scores": {ER},
    "document_mime_mix": {WR},  # retab.workflow_run_documents, written by the workflow-runs asset
}

# Per view: row count and numeric figures of the hand-built warehouse, worked out by hand.
EXPECTED: dict[str, dict[str, int | float]] = {
    "workflow_run_facts": {"dagster/row_count": 6, "failure_rate": 0.2},
    # (D1, wf_a), (D1, wf_b), (D2, wf_b)
    "workflow_daily_health": {
        "dagster/row_count": 3,
        "runs_error": 1,
        "runs_finished": 5,
        "failure_rate": 0.2,
    },
    # (D1, wf_a, v1), (D1, wf_a, v2), (D1, wf_b, v3), (D2, wf_b, v3)
    "workflow_version_daily_health": {
        "dagster/row_count": 4,
        "runs_error": 1,
        "runs_finished": 5,
        "failure_rate": 0.2,
    },
    "workflow_errors": {"dagster/row_count": 1, "errors": 1, "error_patterns": 1},  # r3
    # completed with a duration: (D1, wf_a, v1, api) r1 r2, (D2, wf_b, v3, api) r6
    "run_durations": {"dagster/row_count": 2, "p50_duration_ms": 2000.0, "p95_duration_ms": 2900.0},
    # every run with a duration (r1-r4, r6): fewer than ten per workflow and day
    "slowest_runs": {"dagster/row_count": 5, "max_duration_ms": 3000, "p95_duration_ms": 2900.0},
    "experiment_scores": {
        "dagster/row_count": 3,
        "scored_runs": 2,
        "mean_score": 0.7,
        "mean_latest_score": 0.6,
    },
    # (D1, wf_a, api), (D1, wf_a, schedule), (D1, wf_b, api), (D1, wf_b, manual), (D2, wf_b, api)
    "trigger_mix": {"dagster/row_count": 5, "runs": 6, "trigger_types": 3},
    # (D1, pdf), (D1, png), (D1, unknown), (D2, pdf)
    "document_mime_mix": {"dagster/row_count": 4, "documents": 4, "mime_types": 3},
}

# The same row counts by plain SQL on the raw tables (a check of the hand-worked table above).
ROW_COUNT_SQL = {
    "workflow_run_facts": "SELECT count(*) FROM retab.workflow_runs",
    "workflow_daily_health": "SELECT count(DISTINCT (created_date, workflow_id)) FROM retab.workflow_runs",
    "workflow_version_daily_health": (
        "SELECT count(DISTINCT (created_date, workflow_id, workflow_version_id)) FROM retab.workflow_runs"
    ),
    "workflow_errors": "SELECT count(*) FROM retab.workflow_runs WHERE status IN ('error', 'failed')",
    "run_durations": (
        "SELECT count(DISTINCT (created_date, workflow_id, workflow_version_id, trigger_type)) "
        "FROM retab.workflow_runs WHERE status = 'completed' AND duration_ms IS NOT NULL"
    ),
    "slowest_runs": "SELECT count(*) FROM retab.workflow_runs WHERE duration_ms IS NOT NULL",
    "experiment_scores": "SELECT count(*) FROM retab.experiment_runs",
    "trigger_mix": (
        "SELECT count(DISTINCT (created_date, workflow_id, trigger_type)) FROM retab.workflow_runs"
    ),
    "document_mime_mix": (
        "SELECT count(DISTINCT (created_date, coalesce(lower(mime_type), 'unknown'))) "
        "FROM retab.workflow_run_documents"
    ),
}
# Overall failure rate (error or failed / finished), p95 duration of completed runs, mean score.
HEADLINE_SQL = """
SELECT
    count(*) FILTER (WHERE status IN ('error', 'failed'))
        / count(*) FILTER (WHERE status IN ('completed', 'error', 'failed', 'cancelled')) AS failure_rate,
    quantile_cont(coalesce(duration_ms, date_diff('millisecond', started_at, completed_at)), 0.95)
        FILTER (WHERE status = 'completed') AS p95_duration_ms,
    (SELECT avg(score) FROM retab.experiment_runs) AS mean_score
FROM retab.workflow_runs
"""

RUNS_SQL = """
INSERT INTO retab.workflow_runs (id, workflow_id, workflow_version_id, trigger_type, status, created_at,
                                 duration_ms, created_date, raw, synced_at)
SELECT id, wf, ver, trig, status, created::TIMESTAMPTZ, dur, created::TIMESTAMPTZ::DATE, '{}', now()
FROM (VALUES
    ('r1', 'wf_a', 'v1', 'api',      'completed', '2026-05-09 08:00:00+00', 1000),
    ('r2', 'wf_a', 'v1', 'api',      'completed', '2026-05-09 08:01:00+00', 3000),
    ('r3', 'wf_a', 'v2', 'schedule', 'error',     '2026-05-09 08:02:00+00', 500),
    ('r4', 'wf_b', 'v3', 'api',      'cancelled', '2026-05-09 09:00:00+00', 200),
    ('r5', 'wf_b', 'v3', 'manual',   'running',   '2026-05-09 09:01:00+00', NULL),
    ('r6', 'wf_b', 'v3', 'api',      'completed', '2026-05-10 08:00:00+00', 2000)
) AS t(id, wf, ver, trig, status, created, dur);
UPDATE retab.workflow_runs SET error_message = 'Timeout after 30000 ms fetching file_1',
    error_stage = 'document_fetch', error_category = 'transient' WHERE id = 'r3';
INSERT INTO retab.workflow_run_documents (run_id, start_block_id, file_id, mime_type, created_date) VALUES
    ('r1', 'start', 'file_1', 'application/pdf', DATE '2026-05-09'),
    ('r2', 'start', 'file_2', 'image/png',       DATE '2026-05-09'),
    ('r3', 'start', 'file_3', NULL,              DATE '2026-05-09'),
    ('r6', 'start', 'file_4', 'Application/PDF', DATE '2026-05-10');
INSERT INTO retab.experiment_runs (id, experiment_id, block_id, status, score, created_at, created_date,
                                   raw, synced_at) VALUES
    ('x1', 'exp_1', 'block_b', 'completed', 0.8,  TIMESTAMPTZ '2026-05-09 10:00:00+00', DATE '2026-05-09',
     '{}', now()),
    ('x2', 'exp_1', 'block_b', 'completed', 0.6,  TIMESTAMPTZ '2026-05-10 10:00:00+00', DATE '2026-05-10',
     '{}', now()),
    ('x3', 'exp_1', 'block_c', 'error',     NULL, TIMESTAMPTZ '2026-05-10 11:00:00+00', DATE '2026-05-10',
     '{}', now());
"""

# A second sync: one more error on D2 (wf_a v1 api, 100 ms) -> 2 errors of 6 finished runs.
MORE_SQL = """
INSERT INTO retab.workflow_runs (id, workflow_id, workflow_version_id, trigger_type, status, created_at,
                                 duration_ms, created_date, raw, synced_at)
VALUES ('r7', 'wf_a', 'v1', 'api', 'error', TIMESTAMPTZ '2026-05-10 12:00:00+00', 100, DATE '2026-05-10',
        '{}', now());
"""


def run_sql(path: Path, sql: str) -> None:
    con = hw.connect(path)
    try:
        con.execute(sql)
    finally:
        con.close()


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture
def handmade(tmp_path: Path) -> Path:
    """The hand-built warehouse above, without the analytics views (the assets create them)."""
    path = hw.create(tmp_path / "warehouse" / "retab.duckdb")
    run_sql(path, RUNS_SQL)
    return path


def materialize_views(
    path: Path, instance: dg.DagsterInstance | None = None, selection: list[dg.AssetKey] | None = None
) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [analytics_views],
        resources={"warehouse": WarehouseResource(path=str(path), lock_wait=10)},
        instance=instance,
        selection=selection,
    )
    assert result.success
    return result


def metadata_by_key(result: dg.ExecuteInProcessResult) -> dict[dg.AssetKey, dict[str, dg.MetadataValue]]:
    return {
        event.asset_key: dict(event.materialization.metadata)
        for event in result.get_asset_materialization_events()
        if event.asset_key is not None
    }


def preview_lines(metadata: dict[str, dg.MetadataValue]) -> list[str]:
    """The lines of the markdown preview."""
    preview = metadata["preview"]
    assert isinstance(preview, dg.MarkdownMetadataValue)
    return (preview.value or "").splitlines()


def numbers(metadata: dict[str, dg.MetadataValue]) -> dict[str, int | float]:
    """The metadata the UI plots: int and float values only."""
    return {
        name: value.value
        for name, value in metadata.items()
        if isinstance(value, dg.IntMetadataValue | dg.FloatMetadataValue) and value.value is not None
    }


# --- lineage -----------------------------------------------------------------------------------


def test_each_view_is_an_unpartitioned_asset_downstream_of_the_raw_tables_it_reads() -> None:
    graph = defs.resolve_asset_graph()
    keys = {view_key(view) for view in VIEWS}
    assert keys == {key for key in graph.get_all_asset_keys() if key.path[0] == "analytics"}
    assert set(EXPECTED_PARENTS) == {view.name for view in VIEWS}
    for name, parents in EXPECTED_PARENTS.items():
        node = graph.get(view_key(name))
        assert node.group_name == GROUP
        assert node.partitions_def is None
        assert set(node.parent_keys) == parents, name
        assert graph.get(WR).partitions_def == DAILY
    assert analytics_views.op.pool == POOL, "opens the DuckDB file: one step at a time with the syncs"
    job = defs.resolve_job_def("retab_sync")
    assert not keys & set(job.asset_layer.selected_asset_keys), "the nightly job syncs; the views follow"


def test_references_skip_comments_and_string_literals() -> None:
    sql = """
    -- reads retab.sync_log? no: a comment
    CREATE OR REPLACE VIEW analytics.v AS
    SELECT 'retab.rejected_records' AS s
    FROM retab . workflow_runs JOIN analytics.workflow_run_facts USING (id)
    """
    assert references(sql) == {
        ("analytics", "v"),
        ("retab", "workflow_runs"),
        ("analytics", "workflow_run_facts"),
    }


# --- materializations --------------------------------------------------------------------------


def test_each_view_reports_its_row_count_figures_and_preview(handmade: Path) -> None:
    with duckdb.connect() as con:  # plain SQL on the raw tables agrees with the hand-worked counts
        con.execute(f"ATTACH {sql_literal(handmade)} AS handmade (READ_ONLY)")
        con.execute("USE handmade")
        counts = {name: scalar(con, sql) for name, sql in ROW_COUNT_SQL.items()}
        headline = con.execute(HEADLINE_SQL).fetchone()
    assert counts == {name: figures["dagster/row_count"] for name, figures in EXPECTED.items()}
    assert headline == pytest.approx((0.2, 2900.0, 0.7))

    metadata = metadata_by_key(materialize_views(handmade))

    assert set(metadata) == {view_key(view) for view in VIEWS}
    for name, expected in EXPECTED.items():
        found = numbers(metadata[view_key(name)])
        assert found == pytest.approx(expected), name
        for figure, value in expected.items():  # counts plot as ints, rates and durations as floats
            assert type(found[figure]) is type(value), (name, figure)
    for view in VIEWS:
        lines = preview_lines(metadata[view_key(view)])
        assert lines[0].startswith("| ") and lines[1].startswith("|---"), view.name
        assert len(lines) == 2 + int(EXPECTED[view.name]["dagster/row_count"]), view.name
        schema = metadata[view_key(view)]["dagster/column_schema"]
        assert isinstance(schema, dg.TableSchemaMetadataValue)
        assert [column.name for column in schema.value.columns] == lines[0].strip("| ").split(" | ")
    assert preview_lines(metadata[FACTS])[2].startswith(
        "| r6 | wf_b | v3 | api | completed | completed | 2026-05-10 |"
    ), "newest run first"


def test_each_materialization_records_the_figures_of_the_day_so_the_ui_plots_their_history(
    handmade: Path,
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        materialize_views(handmade, instance)
        run_sql(handmade, MORE_SQL)
        materialize_views(handmade, instance)  # the views already exist: recreating them is harmless

        records = instance.fetch_materializations(FACTS, limit=10).records
        history = [
            (
                record.asset_materialization.metadata["dagster/row_count"].value,
                record.asset_materialization.metadata["failure_rate"].value,
            )
            for record in sorted(records, key=lambda r: r.storage_id)
            if record.asset_materialization is not None
        ]
    assert history == [(6, pytest.approx(1 / 5)), (7, pytest.approx(2 / 6))]


def test_a_selected_view_is_materialized_alone(handmade: Path) -> None:
    key = view_key("experiment_scores")
    metadata = metadata_by_key(materialize_views(handmade, selection=[key]))
    assert set(metadata) == {key}
    assert numbers(metadata[key]) == pytest.approx(EXPECTED["experiment_scores"])


@pytest.mark.parametrize("build", [hw.create, lambda path: path], ids=["empty-file", "no-file-yet"])
def test_an_empty_warehouse_gives_zero_rows_and_no_figures(
    tmp_path: Path, build: Callable[[Path], Path]
) -> None:
    path = build(tmp_path / "warehouse" / "retab.duckdb")
    metadata = metadata_by_key(materialize_views(path))
    assert set(metadata) == {view_key(view) for view in VIEWS}
    for key, values in metadata.items():
        found = numbers(values)
        assert found["dagster/row_count"] == 0, key
        assert not {"failure_rate", "p95_duration_ms", "mean_score"} & found.keys(), "NULL is left out, not 0"
        assert len(preview_lines(values)) == 2, "the header alone"


def test_a_locked_warehouse_fails_the_step_with_the_engine_message(handmade: Path) -> None:
    holder = hw.connect(handmade)  # another process's writer would hold the file the same way
    try:
        result = dg.materialize(
            [analytics_views],
            resources={"warehouse": WarehouseResource(path=str(handmade), lock_wait=0)},
            raise_on_error=False,
        )
    finally:
        holder.close()
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    error = failure.step_failure_data.error
    assert error is not None
    assert error.cls_name == "Failure" and "retab.duckdb is locked" in error.message, error.message


def test_after_a_simulator_sync_the_figures_match_plain_sql_on_the_raw_tables(
    resources: dict[str, Any], warehouse_path: Path
) -> None:
    for raw in (retab_workflow_runs, retab_experiment_runs):
        assert dg.materialize([raw], partition_key="2026-05-09", resources=resources).success
    metadata = metadata_by_key(materialize_views(warehouse_path))

    with open_reader(warehouse_path) as con:
        runs = scalar(con, "SELECT count(*) FROM retab.workflow_runs")
        experiment_runs = scalar(con, "SELECT count(*) FROM retab.experiment_runs")
        documents = scalar(con, "SELECT count(*) FROM retab.workflow_run_documents")
        failure_rate, p95, mean_score = con.execute(HEADLINE_SQL).fetchone() or ()
    assert runs > 0 and experiment_runs > 0 and documents > 0
    assert None not in (failure_rate, p95, mean_score)
    facts = numbers(metadata[FACTS])
    assert facts == pytest.approx({"dagster/row_count": runs, "failure_rate": failure_rate})
    assert numbers(metadata[view_key("workflow_daily_health")])["failure_rate"] == pytest.approx(failure_rate)
    assert numbers(metadata[view_key("run_durations")])["p95_duration_ms"] == pytest.approx(p95)
    scores = numbers(metadata[view_key("experiment_scores")])
    assert scores["dagster/row_count"] == experiment_runs
    assert scores["mean_score"] == pytest.approx(mean_score)
    assert numbers(metadata[view_key("trigger_mix")])["runs"] == runs
    assert numbers(metadata[view_key("document_mime_mix")])["documents"] == documents


# --- trigger -----------------------------------------------------------------------------------

CHECK_PASSES = {WR: True, ER: True}


def stand_in(key: dg.AssetKey) -> dg.AssetsDefinition:
    """A raw asset with the real key, partitions and a blocking check, that syncs nothing."""

    @dg.asset(
        key=key, partitions_def=DAILY, check_specs=[dg.AssetCheckSpec("sound", asset=key, blocking=True)]
    )
    def _raw() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            check_results=[dg.AssetCheckResult(check_name="sound", passed=CHECK_PASSES[key])]
        )

    return _raw


def test_views_refresh_once_after_a_sync_not_after_a_failed_check_and_eager_would_never_fire(
    tmp_path: Path,
) -> None:
    path = hw.create(tmp_path / "warehouse" / "retab.duckdb")
    raw = {WR: stand_in(WR), ER: stand_in(ER)}
    location = dg.Definitions(
        assets=[*raw.values(), analytics_views],
        resources={"warehouse": WarehouseResource(path=str(path), lock_wait=10)},
    )
    eager_views = dg.multi_asset(
        name="eager_views",
        specs=[
            s.replace_attributes(automation_condition=dg.AutomationCondition.eager())
            for s in analytics_views.specs
        ],
    )(lambda: None)
    eager_location = dg.Definitions(assets=[*raw.values(), eager_views])
    now = datetime(2026, 5, 11, 3, 0, tzinfo=UTC)
    with warnings.catch_warnings(), dg.DagsterInstance.ephemeral() as instance:
        warnings.simplefilter("ignore", dg.BetaWarning)
        tick = dg.evaluate_automation_conditions(location, instance, evaluation_time=now)
        eager = dg.evaluate_automation_conditions(eager_location, instance, evaluation_time=now)
        assert tick.total_requested == 0, "nothing synced yet"

        def sync(key: dg.AssetKey, day: str, *, check_passes: bool = True) -> None:
            CHECK_PASSES[key] = check_passes
            dg.materialize([raw[key]], instance=instance, partition_key=day, raise_on_error=False)

        def next_tick() -> set[dg.AssetKey]:
            nonlocal tick
            tick = dg.evaluate_automation_conditions(
                location, instance, evaluation_time=now, cursor=tick.cursor
            )
            return {view_key(view) for view in VIEWS if tick.get_num_requested(view_key(view))}

        sync(WR, "2026-05-10")
        requested = next_tick()
        assert requested == {view_key(v) for v in VIEWS if v.name != "experiment_scores"}, (
            "every view reading retab.workflow_runs, not the one reading experiment runs only"
        )
        eager = dg.evaluate_automation_conditions(
            eager_location, instance, evaluation_time=now, cursor=eager.cursor
        )
        assert eager.total_requested == 0, "eager() waits for every daily partition: it would never fire"

        materialize_views(path, instance, selection=sorted(requested, key=str))
        assert next_tick() == set(), "materializing the views does not request them again"

        sync(ER, "2026-05-10", check_passes=False)
        assert next_tick() == set(), "a failed blocking check holds the views back"
        sync(ER, "2026-05-10")
        assert next_tick() == {view_key("experiment_scores")}


def test_the_automation_sensor_targets_the_views_and_runs_by_default() -> None:
    graph = defs.resolve_asset_graph()
    assert analytics_automation.default_status == dg.DefaultSensorStatus.RUNNING
    assert analytics_automation.asset_selection.resolve(graph) == {view_key(view) for view in VIEWS}
    assert all(graph.get(view_key(view)).automation_condition == AFTER_SYNC for view in VIEWS)


def test_the_code_location_evaluates_the_views_condition_with_a_running_sensor() -> None:
    graph = defs.resolve_asset_graph()
    views = {view_key(view) for view in VIEWS}
    (sensor,) = [
        sensor
        for sensor in defs.get_repository_def().sensor_defs
        if isinstance(sensor, dg.AutomationConditionSensorDefinition)
        and views <= sensor.asset_selection.resolve(graph)
    ]
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING, f"{sensor.name} starts stopped"
