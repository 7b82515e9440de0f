"""Reading what a Dagster instance recorded: materializations per partition, and a run's events."""

from __future__ import annotations

from typing import Any

import dagster as dg


def materialized(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, dict[str, Any]]:
    """partition -> metadata values of the latest materialization of that partition of `key`."""
    records = instance.fetch_materializations(key, limit=1000).records
    latest: dict[str, dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: r.storage_id):
        event = record.asset_materialization
        assert event is not None and event.partition is not None
        latest[event.partition] = {name: value.value for name, value in event.metadata.items()}
    return latest


def materialization_count(instance: dg.DagsterInstance, key: dg.AssetKey, run_id: str) -> dict[str, int]:
    """partition -> how many materializations of `key` that run recorded."""
    counts: dict[str, int] = {}
    for record in instance.fetch_materializations(key, limit=1000).records:
        event = record.asset_materialization
        if record.run_id == run_id and event is not None and event.partition is not None:
            counts[event.partition] = counts.get(event.partition, 0) + 1
    return counts


def messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The user-facing message of every event of a run."""
    return [entry.message or "" for entry in instance.all_logs(run_id)] + [
        entry.user_message or "" for entry in instance.all_logs(run_id)
    ]
