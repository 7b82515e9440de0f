"""`retab-warehouse dev`'s initial sync leaves in the Dagster instance a materialization of what it synced."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from instance_events import materialized
from sim_world import DAYS

from assets.analytics import view_key
from assets.definitions import defs
from assets.dev_seed import seed_instance
from assets.partitions import range_tags
from assets.retab import ENDPOINT_KEYS
from pipelines.load.views import VIEWS
from retab_sim import Simulator

VIEW_KEYS = [view_key(view) for view in VIEWS]


@pytest.fixture
def dev_env(monkeypatch: pytest.MonkeyPatch, sim: Simulator, tmp_path: Path) -> None:
    """What run_dev sets before the seed: the simulator's URL and key, and the dev warehouse."""
    monkeypatch.setenv("RETAB_API_BASE_URL", sim.base_url)
    monkeypatch.setenv("RETAB_API_KEY", sim.key)
    monkeypatch.setenv("RETAB_DUCKDB_PATH", str(tmp_path / "dev.duckdb"))


def latest_row_count(instance: dg.DagsterInstance, key: dg.AssetKey) -> int | None:
    """The row count of the latest materialization of an unpartitioned asset, None if never materialized."""
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata["dagster/row_count"].value
    assert isinstance(value, int)
    return value


def test_the_seed_materializes_every_synced_day_of_the_raw_assets_and_every_view(
    dev_env: None, instance: dg.DagsterInstance
) -> None:
    assert seed_instance(DAYS[0], DAYS[-1]) == len(DAYS)

    for key in ENDPOINT_KEYS.values():
        assert sorted(materialized(instance, key)) == [str(day) for day in DAYS], key
    never = [key.to_user_string() for key in VIEW_KEYS if latest_row_count(instance, key) is None]
    assert never == [], "every analytics view shows a materialization right after the seed"
    assert (latest_row_count(instance, view_key("workflow_run_facts")) or 0) > 0


def test_a_restart_with_every_day_synced_materializes_the_views_once(
    dev_env: None, instance: dg.DagsterInstance
) -> None:
    # a dev home from before the views were seeded: the raw days synced, the views never materialized
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    synced = defs.resolve_job_def("retab_sync").execute_in_process(
        run_config=quiet, instance=instance, tags=range_tags(DAYS[0], DAYS[-1])
    )
    assert synced.success
    assert all(latest_row_count(instance, key) is None for key in VIEW_KEYS)

    assert seed_instance(DAYS[0], DAYS[-1]) == 0, "no day synced again"
    assert all(latest_row_count(instance, key) is not None for key in VIEW_KEYS)
    runs = len(instance.get_runs())
    assert seed_instance(DAYS[0], DAYS[-1]) == 0
    assert len(instance.get_runs()) == runs, "a restart with nothing missing starts no run"
