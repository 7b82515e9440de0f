"""The generated world: the same bytes from the same seed, and realistic variety in every field."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from retab_sim import Simulator, run_simulator
from retab_sim.testing import TEST_CONFIG

from .rawapi import PATHS, RawApi

Make = Callable[..., Simulator]
Record = dict[str, Any]


def raw_walk(sim: Simulator, endpoint: str) -> list[bytes]:
    """The exact bytes of every page of a listing."""
    api = RawApi(sim)
    pages, params = [], {"limit": 100}
    while True:
        response = api.get(PATHS[endpoint], **params)
        pages.append(response.content)
        after = response.json()["list_metadata"]["after"]
        if after is None:
            return pages
        params["after"] = after


@pytest.mark.parametrize("shape", ["sdk", "docs", "mixed"])
def test_the_same_seed_serves_the_same_bytes_and_another_seed_does_not(
    make_simulator: Make, shape: str
) -> None:
    for endpoint in ("runs", "experiment-runs"):
        first = raw_walk(make_simulator(seed=5, shape=shape), endpoint)
        assert first == raw_walk(make_simulator(seed=5, shape=shape), endpoint)
        assert first != raw_walk(make_simulator(seed=6, shape=shape), endpoint)


def test_a_day_does_not_depend_on_how_many_days_are_served(make_simulator: Make) -> None:
    narrow = make_simulator(days=1).truth("runs", "2026-05-10")
    wide = make_simulator(days=5).truth("runs", "2026-05-10")
    assert narrow == wide


@pytest.fixture(scope="module")
def world() -> dict[str, list[Record]]:
    """A larger world, two days of final records of both endpoints (generated once for the module)."""
    config = replace(TEST_CONFIG, days=2, runs_per_day=4_000, experiment_runs_per_day=800)
    with run_simulator(config) as sim:
        sim.advance(minutes=7 * 24 * 60)  # every run of the two days has finished (or waits for a review)
        return {
            e: sim.truth(e, "2026-05-09") + sim.truth(e, "2026-05-10") for e in ("runs", "experiment-runs")
        }


def duration(record: Record) -> float | None:
    t = record["timing"]
    if not t["started_at"] or not t["completed_at"]:
        return None
    return (
        datetime.fromisoformat(t["completed_at"]) - datetime.fromisoformat(t["started_at"])
    ).total_seconds()


def test_runs_come_from_dozens_of_workflows_with_several_versions(world: dict[str, list[Record]]) -> None:
    versions: defaultdict[str, set[str]] = defaultdict(set)
    for r in world["runs"]:
        versions[r["workflow_id"]].add(r["workflow_version_id"])
    assert len(versions) >= 24
    assert sum(len(v) >= 2 for v in versions.values()) >= 10
    assert max(len(v) for v in versions.values()) >= 3


def test_every_trigger_type_and_lifecycle_variant_appears(world: dict[str, list[Record]]) -> None:
    runs = world["runs"]
    assert {r["trigger"]["type"] for r in runs} == {
        "manual",
        "api",
        "schedule",
        "webhook",
        "email",
        "restart",
        "custom",
    }
    by_status = defaultdict(list)
    for r in runs:
        by_status[r["lifecycle"]["status"]].append(r["lifecycle"])
    assert set(by_status) == {"completed", "error", "cancelled", "awaiting_review"}
    errors = by_status["error"]
    assert {e["stage"] for e in errors} == {
        "input_collection", "registry_lookup", "document_fetch", "execution", "output_storage", "routing",
        "history_payload", None,
    }  # fmt: skip
    assert {e["category"] for e in errors} == {"transient", "permanent", "quota", None}
    assert {e["failing_step_id"] is None for e in errors} == {True, False}
    details = [e["details"] for e in errors if e["details"]]
    assert details and all(
        set(d) == {"message", "stack_trace", "block_id", "block_name", "error_code", "context"}
        for d in details
    )
    assert {e["details"] is None for e in errors} == {True, False}
    reasons = {c["reason"] for c in by_status["cancelled"]}
    assert None in reasons and len(reasons) >= 4
    assert all(a["waiting_for_block_ids"] for a in by_status["awaiting_review"])
    cancelled_early = [
        r for r in runs if r["lifecycle"]["status"] == "cancelled" and r["timing"]["started_at"] is None
    ]
    assert cancelled_early


def test_inputs_vary_in_count_names_types_and_presence(world: dict[str, list[Record]]) -> None:
    runs = world["runs"]
    inputs = Counter(
        "missing" if "inputs" not in r else "null" if r["inputs"] is None else "object" for r in runs
    )
    assert set(inputs) == {"missing", "null", "object"}
    documents = [r["inputs"]["documents"] for r in runs if r.get("inputs")]
    assert {len(d) for d in documents} == {0, 1, 2, 3}
    files = [f for d in documents for f in d.values()]
    names = {f["filename"] for f in files}
    assert (
        any(not n.isascii() for n in names) and any('"' in n for n in names) and any(" " in n for n in names)
    )
    assert any("'" in n for n in names) and any("\\" in n for n in names)
    assert len({f["mime_type"] for f in files}) >= 8
    assert len({f["id"] for f in files}) == len(files)
    assert any(d and all(k.startswith("start") for k in d) for d in documents)
    json_data = [r["inputs"]["json_data"] for r in runs if r.get("inputs")]
    assert {} in json_data and any(json_data)


def test_metadata_is_null_empty_or_strings(world: dict[str, list[Record]]) -> None:
    metadata = [r["metadata"] for r in world["runs"]]
    assert None in metadata and {} in metadata
    values = [v for m in metadata if m for v in m.values()]
    assert values and all(isinstance(v, str) for v in values)
    assert any(not v.isascii() for v in values)


def test_durations_have_a_long_tail(world: dict[str, list[Record]]) -> None:
    durations = sorted(d for r in world["runs"] if (d := duration(r)) is not None)
    median = statistics.median(durations)
    assert 1 < median < 120
    assert durations[-1] > 20 * median
    assert durations[int(len(durations) * 0.99)] > 5 * median


def test_experiment_runs_vary_by_experiment_block_consensus_and_version(
    world: dict[str, list[Record]],
) -> None:
    runs = world["experiment-runs"]
    assert {r["n_consensus"] for r in runs} == {3, 5, 7}
    assert {r["block_type"] for r in runs} == {"extract", "classifier", "split", "for_each"}
    assert {r["lifecycle"]["status"] for r in runs} == {"completed", "error", "cancelled"}
    assert {r["trigger"]["type"] for r in runs} >= {"manual", "api", "schedule", None}
    per_experiment = Counter(r["experiment_id"] for r in runs)
    assert len(per_experiment) >= 10
    blocks = defaultdict(set)
    for r in runs:
        blocks[r["experiment_id"]].add(r["block_id"])
    assert any(len(b) > 1 for b in blocks.values())
    completed = [r for r in runs if r["lifecycle"]["status"] == "completed"]
    assert any(r["score"] is None for r in completed) and any(r["score"] is not None for r in completed)
    assert all(r["completed_document_count"] == r["total_document_count"] for r in completed)
    failed = [r for r in runs if r["lifecycle"]["status"] == "error"]
    assert all(r["error_count"] > 0 and r["lifecycle"]["message"] for r in failed)
    assert any(r["timing"]["duration_ms"] is None for r in completed)
    assert any(r["parent_run_id"] for r in runs) and any(r["parent_run_id"] is None for r in runs)
    assert any(r["workflow_version_id"].startswith("draft_") for r in runs)


def test_scores_drift_from_one_version_to_the_next(world: dict[str, list[Record]]) -> None:
    scores: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
    for r in world["experiment-runs"]:
        if r["score"] is not None:
            scores[(r["experiment_id"], r["workflow_version_id"])].append(r["score"])
    means: defaultdict[str, list[float]] = defaultdict(list)
    for (experiment, _), values in scores.items():
        if len(values) >= 3:
            means[experiment].append(statistics.mean(values))
    spreads = [max(m) - min(m) for m in means.values() if len(m) >= 2]
    assert spreads and max(spreads) > 0.05
    within = [statistics.pstdev(v) for v in scores.values() if len(v) >= 5]
    assert within and statistics.median(within) < 0.05  # noise within a version stays small


def test_created_at_follows_the_id_order_and_a_daily_curve(world: dict[str, list[Record]]) -> None:
    runs = [r for r in world["runs"] if r["timing"]["created_at"].startswith("2026-05-10")]
    assert [r["id"] for r in runs] == sorted(r["id"] for r in runs)
    created = [r["timing"]["created_at"] for r in runs]
    assert created == sorted(created)
    hours = Counter(datetime.fromisoformat(c).hour for c in created)
    assert hours[10] > 3 * hours[3]
