"""The simulated clock: nothing exists after now, in-flight runs finish and new runs appear as it moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import requests

from retab_sim import Simulator

from .rawapi import RawApi

IN_FLIGHT = {
    "runs": {"pending", "running", "awaiting_review"},
    "experiment-runs": {"pending", "queued", "running"},
}
FINAL = {"runs": {"completed", "error", "cancelled"}, "experiment-runs": {"completed", "error", "cancelled"}}
AFTERNOON = datetime(2026, 5, 10, 15, 0, tzinfo=UTC)
Make = Callable[..., Simulator]


def test_the_default_now_is_the_end_of_the_end_day(simulator: Simulator, api: RawApi) -> None:
    assert simulator.now == datetime(2026, 5, 11, tzinfo=UTC)
    newest = api.page("runs", limit=1)["data"][0]
    assert newest["timing"]["created_at"].startswith("2026-05-10")
    assert simulator.truth_ids("runs", "2026-05-11") == {}


def test_runs_created_after_now_do_not_exist_yet(make_simulator: Make) -> None:
    sim = make_simulator(now=AFTERNOON)
    api = RawApi(sim)
    records = api.records("runs", from_date="2026-05-10", to_date="2026-05-10")
    assert 0 < len(records) < 200
    assert max(datetime.fromisoformat(r["timing"]["created_at"]) for r in records) <= AFTERNOON
    later = sim.advance(minutes=90)
    assert later == AFTERNOON + timedelta(minutes=90) == sim.now
    more = api.records("runs", from_date="2026-05-10", to_date="2026-05-10")
    assert len(more) > len(records)
    assert {r["id"] for r in records} < {r["id"] for r in more}
    assert api.records("runs", order="asc", after=records[0]["id"]) == list(reversed(more))[len(records) :]


def ms(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_run_goes_pending_running_then_final_as_the_clock_passes_its_times(make_simulator: Make) -> None:
    final = make_simulator().truth("runs", "2026-05-09")
    run = next(r for r in final if r["lifecycle"]["status"] == "error" and r["timing"]["started_at"])
    created, started, completed = (ms(run["timing"][k]) for k in ("created_at", "started_at", "completed_at"))
    sim = make_simulator(now=created)
    url = f"/v1/workflows/runs/{run['id']}"
    api = RawApi(sim)
    seen = api.get(url).json()
    assert seen["lifecycle"] == {"status": "pending"}
    assert seen["timing"] == {**run["timing"], "started_at": None, "completed_at": None}
    sim.advance(seconds=(started - created).total_seconds())
    seen = api.get(url).json()
    assert seen["lifecycle"] == {"status": "running"}
    assert seen["timing"] == {**run["timing"], "completed_at": None}
    sim.advance(seconds=(completed - started).total_seconds() - 0.001)
    assert api.get(url).json()["lifecycle"] == {"status": "running"}
    sim.advance(seconds=0.001)
    assert api.get(url).json() == run


def test_an_experiment_run_goes_pending_queued_running_then_final(make_simulator: Make) -> None:
    final = make_simulator().truth("experiment-runs", "2026-05-09")
    run = next(r for r in final if r["lifecycle"]["status"] == "completed" and r["score"] is not None)
    created, started, completed = (ms(run["timing"][k]) for k in ("created_at", "started_at", "completed_at"))
    sim = make_simulator(now=created)
    api = RawApi(sim)
    url = f"/v1/workflows/experiments/runs/{run['id']}"
    states = [api.get(url).json()]
    sim.advance(seconds=(started - created).total_seconds() - 0.001)
    states.append(api.get(url).json())
    sim.advance(seconds=0.001 + (completed - started).total_seconds() / 2)
    states.append(api.get(url).json())
    sim.advance(seconds=(completed - started).total_seconds())
    states.append(api.get(url).json())
    assert [s["lifecycle"]["status"] for s in states] == ["pending", "queued", "running", "completed"]
    assert [s["score"] for s in states] == [None, None, None, run["score"]]
    assert [s["timing"]["duration_ms"] for s in states[:3]] == [None, None, None]
    assert 0 < states[2]["completed_document_count"] < run["total_document_count"]
    assert states[3] == run


def test_advancing_finishes_every_in_flight_run(make_simulator: Make) -> None:
    sim = make_simulator(now=AFTERNOON, runs_per_day=5_000, experiment_runs_per_day=500)
    api = RawApi(sim)
    for endpoint in ("runs", "experiment-runs"):
        statuses = sim.truth_ids(endpoint, "2026-05-10")
        assert set(statuses.values()) & IN_FLIGHT[endpoint]
        open_records = [r for r in api.records(endpoint, from_date="2026-05-10") if r["id"] in statuses]
        assert all(
            r["timing"]["completed_at"] is None
            for r in open_records
            if r["lifecycle"]["status"] in IN_FLIGHT[endpoint]
        )
    sim.advance(minutes=3 * 24 * 60)
    for endpoint, total in (("runs", 5_000), ("experiment-runs", 500)):
        after = api.records(endpoint, from_date="2026-05-10", to_date="2026-05-10")
        assert len(after) == total
        stuck = [r for r in after if r["lifecycle"]["status"] not in FINAL[endpoint]]
        assert {r["lifecycle"]["status"] for r in stuck} <= {"awaiting_review"}  # reviews nobody does
        assert len(stuck) < total * 0.02
        assert all(r["timing"]["completed_at"] for r in after if r not in stuck)


def test_the_http_advance_moves_the_same_clock(simulator: Simulator) -> None:
    response = requests.post(simulator.base_url + "/_sim/advance", json={"minutes": 30}, timeout=10)
    assert response.status_code == 200
    assert response.json() == {"now": "2026-05-11T00:30:00Z"}
    assert simulator.now == datetime(2026, 5, 11, 0, 30, tzinfo=UTC)
    seconds = requests.post(simulator.base_url + "/_sim/advance", json={"seconds": 15}, timeout=10).json()
    assert seconds == {"now": "2026-05-11T00:30:15Z"}
    assert requests.get(simulator.base_url + "/_sim/now", timeout=10).json() == seconds


def test_days_after_end_fill_in_as_the_clock_moves(simulator: Simulator, api: RawApi) -> None:
    simulator.advance(minutes=12 * 60)
    fresh = api.records("runs", from_date="2026-05-11")
    assert fresh and all(r["timing"]["created_at"].startswith("2026-05-11") for r in fresh)
    assert len(simulator.truth_ids("runs", "2026-05-11")) == len(fresh)
