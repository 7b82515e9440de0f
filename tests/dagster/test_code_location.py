"""The code location loads, validates, and is configured as documented; dagster.yaml is a valid instance."""

from __future__ import annotations

import os
import re
import subprocess
import warnings
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from sim_world import PROJECT_ROOT

from assets.definitions import defs
from assets.partitions import DAILY
from assets.resources import RetabApiResource, WarehouseResource, sync_settings
from assets.retab import EXPERIMENT_RUNS_KEY, POOL, WORKFLOW_RUNS_KEY
from pipelines.config import partitions_start
from pipelines.errors import MissingApiKey


def test_definitions_hold_both_assets_their_checks_the_job_and_three_schedules() -> None:
    graph = defs.resolve_asset_graph()
    assert set(graph.get_all_asset_keys()) >= {WORKFLOW_RUNS_KEY, EXPERIMENT_RUNS_KEY}
    for key in (WORKFLOW_RUNS_KEY, EXPERIMENT_RUNS_KEY):
        node = graph.get(key)
        assert node.group_name == "retab"
        assert node.partitions_def == DAILY
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
        names = {check.name for check in graph.asset_check_keys if check.asset_key == key}
        assert names == {
            "unique_ids",
            "created_date_in_partition",
            "rejected_share",
            "partitions_complete",
            "no_stale_open_runs",
        }
    assert defs.resolve_job_def("retab_sync") is not None
    assert {s.name for s in defs.schedules or []} == {"retab_nightly", "retab_reconcile", "retab_today"}


def test_assets_a_backfill_can_select_together_share_one_backfill_policy_and_no_job_warns() -> None:
    graph = defs.resolve_asset_graph()
    policies = {node.key: node.backfill_policy for node in graph.asset_nodes if node.is_partitioned}
    assert set(policies.values()) == {dg.BackfillPolicy.single_run()}, policies

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jobs = [job.name for job in defs.get_repository_def().get_all_jobs()]
        everything = dg.define_asset_job("every_asset", selection=dg.AssetSelection.all()).resolve(graph)
        raw = dg.define_asset_job("raw_backfill", selection=[WORKFLOW_RUNS_KEY, EXPERIMENT_RUNS_KEY])
        backfill = raw.resolve(graph)
    assert "retab_sync" in jobs and everything.partitions_def == backfill.partitions_def == DAILY
    assert [str(w.message) for w in caught if "varying BackfillPolicies" in str(w.message)] == []


def test_partitions_are_utc_days_from_the_configured_start_and_include_today() -> None:
    assert isinstance(DAILY, dg.DailyPartitionsDefinition)
    assert DAILY.timezone == "UTC"
    assert DAILY.start.date() == partitions_start() == date(2026, 1, 1)
    midday = datetime(2026, 5, 10, 13, 0, tzinfo=UTC)
    assert DAILY.get_partition_keys(current_time=midday)[-1] == "2026-05-10", (
        "today's partial day is launchable"
    )


def test_partitions_start_comes_from_the_environment() -> None:
    assert partitions_start({"RETAB_PARTITIONS_START": "2025-10-01"}) == date(2025, 10, 1)
    with pytest.raises(ValueError, match="RETAB_PARTITIONS_START='01/10/2025' is not a day"):
        partitions_start({"RETAB_PARTITIONS_START": "01/10/2025"})


def test_every_step_that_opens_the_warehouse_is_in_the_pool() -> None:
    steps = [*(a.op for a in defs.assets or []), *(c.op for c in defs.asset_checks or [])]
    assert len(steps) == 5  # two syncs, two check steps, the analytics views
    assert {step.pool for step in steps} == {POOL}


def test_dagster_definitions_validate_exits_0_without_an_api_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAB_")}
    env["DAGSTER_HOME"] = str(tmp_path)
    dagster = Path(PROJECT_ROOT / ".venv" / "bin" / "dagster")
    done = subprocess.run(
        [str(dagster), "definitions", "validate"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful for code location retab_warehouse" in done.stderr + done.stdout


def test_dagster_yaml_is_a_valid_instance_with_one_warehouse_writer(instance: dg.DagsterInstance) -> None:
    concurrency = instance.get_concurrency_config()
    assert concurrency.pool_config.default_pool_limit == 1
    assert concurrency.pool_config.pool_granularity is not None
    assert concurrency.pool_config.pool_granularity.value == "op"
    assert concurrency.run_queue_config is not None
    assert concurrency.run_queue_config.max_concurrent_runs == 2
    assert {"key": "dagster/backfill", "limit": 1} in concurrency.run_queue_config.tag_concurrency_limits
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
    assert instance.run_retries_retry_on_asset_or_op_failure is False, "crashed runs only"
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0, (
        "a crashed run frees the pool"
    )
    assert instance.get_settings("telemetry") == {"enabled": False}


def test_the_ui_shows_the_api_key_variable_by_name_never_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETAB_API_KEY", "sk-marker-in-the-environment")
    snapshot = dg.serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert "RETAB_API_KEY" in snapshot
    assert "sk-marker-in-the-environment" not in snapshot
    assert "sk-marker" not in repr(RetabApiResource(api_key="sk-marker"))


def test_resources_read_unset_values_from_the_environment_at_run_time() -> None:
    env = {"RETAB_API_BASE_URL": "http://127.0.0.1:8765", "RETAB_DUCKDB_PATH": "/data/retab.duckdb"}
    settings = sync_settings(
        RetabApiResource(api_key="k", concurrency=7), WarehouseResource(lock_wait=3), env
    )
    assert (settings.base_url, settings.duckdb_path) == ("http://127.0.0.1:8765", Path("/data/retab.duckdb"))
    assert (settings.concurrency, settings.lock_wait, settings.api_key) == (7, 3, "k")
    defaults = sync_settings(RetabApiResource(api_key="k"), WarehouseResource(), {})
    assert (defaults.base_url, defaults.duckdb_path) == (
        "https://api.retab.com",
        Path("warehouse/warehouse.duckdb"),
    )
    explicit = sync_settings(
        RetabApiResource(api_key="k", base_url="https://x"), WarehouseResource(path="a.db"), env
    )
    assert (explicit.base_url, explicit.duckdb_path) == ("https://x", Path("a.db"))
    with pytest.raises(MissingApiKey):
        sync_settings(RetabApiResource(api_key=""), WarehouseResource(), env)


@pytest.mark.parametrize("path", sorted((PROJECT_ROOT / "assets").glob("*.py")), ids=lambda p: p.name)
def test_modules_that_define_dagster_objects_do_not_postpone_annotations(path: Path) -> None:
    """`from __future__ import annotations` breaks Dagster's context-parameter check (FIELD_NOTES)."""
    text = path.read_text(encoding="utf-8")
    if any(marker in text for marker in ("@dg.asset", "@dg.multi_asset_check", "@dg.schedule")):
        assert "from __future__ import annotations" not in text


def test_every_table_asset_names_its_table_and_describes_its_columns() -> None:
    from pipelines.load.contract import documented_columns

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        metadata = graph.get(key).metadata
        table = metadata.get("dagster/table_name")
        assert table, f"{key.to_user_string()} has no dagster/table_name"
        schema = metadata["dagster/column_schema"]
        documented = documented_columns()[str(table)]
        assert [c.name for c in schema.columns] == [c.name for c in documented]
        assert all(c.description for c in schema.columns)


def test_the_readme_names_every_group_job_schedule_and_sensor_of_the_code_location() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("### What is in the code location")
    table = readme[start : readme.index("\n### ", start + 1)]
    graph = defs.resolve_asset_graph()
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert all(f"group `{group}`" in table for group in groups), groups
    names = [s.name for s in defs.schedules or []] + [s.name for s in defs.sensors or []]
    names += [j.name for j in defs.jobs or [] if not j.name.startswith("__")]
    assert all(f"`{name}`" in table for name in names), names
    documented = re.findall(r"\| (?:schedule|sensor|job) `(\w+)`", table)
    assert documented and set(documented) <= set(names), f"the README names {set(documented) - set(names)}"
