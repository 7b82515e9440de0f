"""The Dagster assets on a DuckLake: a range backfill, then the analytics views, equal to the API; the
catalog password in the URI reaches no event, no metadata, no log and no file."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import pytest
from instance_events import materialized
from postgres_cluster import PostgresCluster
from sim_world import DAYS
from warehouses import rows

from assets.analytics import analytics_views
from assets.partitions import range_tags
from assets.resources import RetabApiResource, WarehouseResource
from assets.retab import WORKFLOW_RUNS_KEY, retab_experiment_runs, retab_workflow_runs
from pipelines.config import DuckLake
from retab_sim import Simulator

KEYS = [str(day) for day in DAYS]


def test_a_backfill_and_the_views_on_a_lake_equal_the_api_and_show_no_password(
    sim: Simulator,
    postgres: PostgresCluster,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    password = f"pg-{uuid.uuid4().hex}"
    data = tmp_path / "lake-data"
    lake = DuckLake(
        f"ducklake:postgres:{postgres.libpq(postgres.create_database('dg'))} password={password}", str(data)
    )
    monkeypatch.setenv("RETAB_DUCKDB_PATH", lake.uri)  # as a deployment does: the URI in the environment
    monkeypatch.setenv("RETAB_DUCKLAKE_DATA_PATH", str(data))
    resources = {
        "retab_api": RetabApiResource(api_key=sim.key, base_url=sim.base_url, concurrency=2),
        "warehouse": WarehouseResource(),
    }
    result = dg.materialize(
        [retab_workflow_runs, retab_experiment_runs], resources=resources, instance=instance,
        tags=range_tags(DAYS[0], DAYS[-1]),
    )  # fmt: skip
    assert result.success
    views = dg.materialize([analytics_views], resources=resources, instance=instance)
    assert views.success

    held = dict(rows(lake, "SELECT created_date::VARCHAR, count(*) FROM retab.workflow_runs GROUP BY 1"))
    assert held == {day: len(sim.truth("runs", day)) for day in KEYS}
    figures = materialized(instance, WORKFLOW_RUNS_KEY)
    assert {day: figures[day]["dagster/row_count"] for day in KEYS} == held
    health = rows(lake, "SELECT sum(runs) FROM analytics.workflow_daily_health")
    assert health == [(sum(held.values()),)]
    for run_id in (result.run_id, views.run_id):
        for entry in instance.all_logs(run_id):
            assert password not in dg.serialize_value(entry)
    for path in [*(tmp_path / "dagster_home").rglob("*"), *data.rglob("*")]:
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
