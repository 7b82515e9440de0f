"""The official `retab` SDK against the simulator in `sdk` shape: every page parses, filters filter."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel
from retab import Retab
from retab.types.workflows.experiments.runs import ExperimentRun
from retab.types.workflows.runs import WorkflowRun

from retab_sim import Simulator

DAYS = ("2026-05-08", "2026-05-09", "2026-05-10")
Record = dict[str, Any]


@pytest.fixture
def client(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Retab:
    """An SDK client configured the way users configure it: through the environment."""
    monkeypatch.setenv("RETAB_API_BASE_URL", simulator.base_url)
    monkeypatch.setenv("RETAB_API_KEY", simulator.key)
    return Retab(max_retries=0)


def truth(sim: Simulator, endpoint: str) -> list[Record]:
    """Every visible record of the test world, oldest first."""
    return [r for day in DAYS for r in sim.truth(endpoint, day)]


def day_of(record: Record) -> str:
    return str(record["timing"]["created_at"][:10])


def duration_ms(record: Record) -> int | None:
    timing = record["timing"]
    if timing["started_at"] is None or timing["completed_at"] is None:
        return None
    delta = datetime.fromisoformat(timing["completed_at"]) - datetime.fromisoformat(timing["started_at"])
    return round(delta.total_seconds() * 1000)


def assert_known_keys(value: Any, model: type[BaseModel], where: str) -> None:
    """Every key the simulator sends is a field the SDK model declares (recursively)."""
    assert isinstance(value, dict), where
    fields = model.model_fields
    assert set(value) <= set(fields), f"{where}: keys unknown to {model.__name__}: {set(value) - set(fields)}"
    for key, item in value.items():
        if not isinstance(item, dict):
            continue
        options = get_args(fields[key].annotation) or (fields[key].annotation,)
        for option in options:
            if get_origin(option) is dict:  # e.g. documents: dict[str, FileRef]
                inner = get_args(option)[1]
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    for name, entry in item.items():
                        assert_known_keys(entry, inner, f"{where}.{key}.{name}")
            elif (
                isinstance(option, type)
                and issubclass(option, BaseModel)
                and (key != "lifecycle" or option.model_fields["status"].default == item["status"])
            ):
                assert_known_keys(item, option, f"{where}.{key}")


def test_the_sdk_walks_every_workflow_run_page_and_every_record_validates(
    simulator: Simulator, client: Retab
) -> None:
    runs = list(client.workflows.runs.list(limit=100))
    expected = truth(simulator, "runs")
    assert [r.id for r in runs] == [r["id"] for r in reversed(expected)]  # newest first, all of them
    assert all(isinstance(r, WorkflowRun) for r in runs)
    for record in expected:
        assert_known_keys(record, WorkflowRun, record["id"])
    statuses = Counter(r.lifecycle.status for r in runs)
    assert statuses["completed"] > statuses["error"] > 0


def test_the_sdk_walks_every_experiment_run_page_and_every_record_validates(
    simulator: Simulator, client: Retab
) -> None:
    runs = list(client.workflows.experiments.runs.list(limit=7))
    expected = truth(simulator, "experiment-runs")
    assert [r.id for r in runs] == [r["id"] for r in reversed(expected)]
    assert all(isinstance(r, ExperimentRun) for r in runs)
    for record in expected:
        assert_known_keys(record, ExperimentRun, record["id"])


def test_single_record_gets_return_what_the_listing_returns(client: Retab) -> None:
    listed = client.workflows.runs.list(limit=5).data
    for run in listed:
        assert client.workflows.runs.get(run.id) == run
    experiment = client.workflows.experiments.runs.list(limit=1).data[0]
    assert client.workflows.experiments.runs.get(experiment.id) == experiment


RUN_FILTERS: list[tuple[str, dict[str, Any], Callable[[Record], bool]]] = [
    ("status", {"status": "error"}, lambda r: r["lifecycle"]["status"] == "error"),
    ("exclude_status", {"exclude_status": "completed"}, lambda r: r["lifecycle"]["status"] != "completed"),
    ("trigger_type", {"trigger_type": "email"}, lambda r: r["trigger"]["type"] == "email"),
    ("one_day", {"from_date": "2026-05-09", "to_date": "2026-05-09"}, lambda r: day_of(r) == "2026-05-09"),
    ("from_date", {"from_date": "2026-05-09"}, lambda r: r["timing"]["created_at"] >= "2026-05-09"),
    ("to_date", {"to_date": "2026-05-08"}, lambda r: r["timing"]["created_at"] < "2026-05-09"),
    ("min_duration", {"min_duration_ms": 20_000}, lambda r: (duration_ms(r) or -1) >= 20_000),
    ("max_duration", {"max_duration_ms": 3_000}, lambda r: 0 <= (duration_ms(r) or 10**9) <= 3_000),
    ("metadata", {"metadata": '{"env": "prod"}'}, lambda r: (r["metadata"] or {}).get("env") == "prod"),
]  # fmt: skip


@pytest.mark.parametrize(("params", "keep"), [f[1:] for f in RUN_FILTERS], ids=[f[0] for f in RUN_FILTERS])
def test_sdk_run_filters_return_exactly_the_matching_runs(
    simulator: Simulator, client: Retab, params: dict[str, Any], keep: Callable[[Record], bool]
) -> None:
    expected = [r["id"] for r in reversed(truth(simulator, "runs")) if keep(r)]
    assert expected, "the filter should match something in the test world"
    got = [r.id for r in client.workflows.runs.list(limit=100, **params)]
    assert got == expected


def test_sdk_workflow_and_search_filters(simulator: Simulator, client: Retab) -> None:
    records = list(reversed(truth(simulator, "runs")))
    busiest = Counter(r["workflow_id"] for r in records).most_common(1)[0][0]
    got = [r.id for r in client.workflows.runs.list(workflow_id=busiest, limit=100)]
    assert got == [r["id"] for r in records if r["workflow_id"] == busiest]
    fragment = records[17]["id"][-5:]
    got = [r.id for r in client.workflows.runs.list(search=fragment.upper(), limit=100)]
    assert got == [r["id"] for r in records if fragment in r["id"]]


@pytest.mark.parametrize("key", ["experiment_id", "block_id", "workflow_id"])
def test_sdk_experiment_filters_by_experiment_block_and_workflow(
    simulator: Simulator, client: Retab, key: str
) -> None:
    records = list(reversed(truth(simulator, "experiment-runs")))
    value = Counter(r[key] for r in records).most_common(1)[0][0]
    got = [r.id for r in client.workflows.experiments.runs.list(limit=100, **{key: value})]
    assert got == [r["id"] for r in records if r[key] == value]


def test_sdk_experiment_status_trigger_and_date_filters(simulator: Simulator, client: Retab) -> None:
    records = list(reversed(truth(simulator, "experiment-runs")))
    runs = client.workflows.experiments.runs
    assert [r.id for r in runs.list(status="completed", limit=100)] == [
        r["id"] for r in records if r["lifecycle"]["status"] == "completed"
    ]
    assert [r.id for r in runs.list(trigger_type="api", limit=100)] == [
        r["id"] for r in records if r["trigger"]["type"] == "api"
    ]
    assert [r.id for r in runs.list(from_date="2026-05-10", to_date="2026-05-10", limit=100)] == [
        r["id"] for r in records if r["timing"]["created_at"].startswith("2026-05-10")
    ]
    assert date.fromisoformat(DAYS[0]) < date(2026, 5, 10)
