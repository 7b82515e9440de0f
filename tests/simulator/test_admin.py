"""The admin endpoints under /_sim/: counters, ground truth, deletions, the clock; no key needed."""

from __future__ import annotations

import requests

from retab_sim import Simulator

from .rawapi import PATHS, RawApi


def admin(sim: Simulator, path: str, **params: str) -> requests.Response:
    return requests.get(sim.base_url + path, params=params, timeout=10)


def test_truth_is_exactly_what_a_listing_of_the_day_serves(simulator: Simulator, api: RawApi) -> None:
    for endpoint in ("runs", "experiment-runs"):
        served = api.records(endpoint, from_date="2026-05-09", to_date="2026-05-09", order="asc")
        assert served == simulator.truth(endpoint, "2026-05-09")
        assert admin(simulator, "/_sim/truth", endpoint=endpoint, day="2026-05-09").json() == served
        ids = admin(simulator, "/_sim/truth-ids", endpoint=endpoint, day="2026-05-09").json()
        assert (
            ids
            == {r["id"]: r["lifecycle"]["status"] for r in served}
            == simulator.truth_ids(endpoint, "2026-05-09")
        )


def test_a_deleted_run_disappears_everywhere(simulator: Simulator, api: RawApi) -> None:
    victim = api.page("runs", from_date="2026-05-08", to_date="2026-05-08", limit=3)["data"][1]["id"]
    response = requests.post(
        simulator.base_url + "/_sim/delete", json={"endpoint": "runs", "id": victim}, timeout=10
    )
    assert response.status_code == 200
    assert victim not in api.ids("runs")
    assert victim not in simulator.truth_ids("runs", "2026-05-08")
    assert len(simulator.truth("runs", "2026-05-08")) == 199
    assert api.get(f"{PATHS['runs']}/{victim}").status_code == 404
    again = requests.post(
        simulator.base_url + "/_sim/delete", json={"endpoint": "runs", "id": victim}, timeout=10
    )
    assert again.status_code == 404
    experiment = api.page("experiment-runs", limit=1)["data"][0]["id"]
    simulator.delete("experiment-runs", experiment)
    assert experiment not in api.ids("experiment-runs")


def test_counters_count_requests_by_status_and_route(simulator: Simulator, api: RawApi) -> None:
    api.get(PATHS["runs"])
    api.get(PATHS["runs"], limit=0)
    api.get(PATHS["experiment-runs"])
    requests.get(simulator.base_url + PATHS["runs"], timeout=10)
    api.get("/v1/other")
    counters = admin(simulator, "/_sim/counters").json()
    assert counters["requests_by_status"] == {"200": 2, "422": 1, "401": 1, "404": 1}
    assert counters["requests_by_route"] == {"list_runs": 3, "list_experiment-runs": 1, "unknown": 1}
    assert counters["records_served"] == 40 and counters["faults"] == {}
    assert simulator.counters()["requests_total"] == 5


def test_admin_errors_are_plain_400s_and_the_config_is_readable(simulator: Simulator) -> None:
    assert admin(simulator, "/_sim/truth", endpoint="jobs", day="2026-05-09").status_code == 400
    assert admin(simulator, "/_sim/truth", endpoint="runs", day="May 9").status_code == 400
    assert admin(simulator, "/_sim/nothing").status_code == 404
    config = admin(simulator, "/_sim/config").json()
    assert config["seed"] == 7 and config["end"] == "2026-05-10" and "key" not in config
