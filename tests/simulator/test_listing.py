"""List endpoints over raw HTTP: parameters, bounds, cursors, order, errors and headers."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import requests

from retab_sim import Simulator

from .rawapi import PATHS, RawApi

DAYS = ("2026-05-08", "2026-05-09", "2026-05-10")


def all_truth(sim: Simulator, endpoint: str) -> list[dict[str, Any]]:
    return [r for day in DAYS for r in sim.truth(endpoint, day)]


def test_limit_defaults_to_20_and_accepts_1_and_100(api: RawApi) -> None:
    assert len(api.page("runs")["data"]) == 20
    assert len(api.page("runs", limit=1)["data"]) == 1
    assert len(api.page("experiment-runs", limit=100)["data"]) == 60  # the whole (small) listing


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (
            "0",
            {
                "type": "greater_than_equal",
                "msg": "Input should be greater than or equal to 1",
                "ctx": {"ge": 1},
            },
        ),
        (
            "101",
            {
                "type": "less_than_equal",
                "msg": "Input should be less than or equal to 100",
                "ctx": {"le": 100},
            },
        ),
        (
            "ten",
            {
                "type": "int_parsing",
                "msg": "Input should be a valid integer, unable to parse string as an integer",
            },
        ),
    ],
    ids=["zero", "101", "not_a_number"],
)
@pytest.mark.parametrize("endpoint", ["runs", "experiment-runs"])
def test_limit_out_of_bounds_gives_the_fastapi_422_body(
    api: RawApi, endpoint: str, value: str, error: dict[str, Any]
) -> None:
    response = api.get(PATHS[endpoint], limit=value)
    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": ["query", "limit"], "input": value, **error}]}


def test_unknown_enum_values_give_422_with_every_bad_parameter(api: RawApi) -> None:
    response = api.get(PATHS["runs"], status="done", order="newest", trigger_type="custom", limit=5)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [item["loc"] for item in detail] == [
        ["query", "status"],
        ["query", "trigger_type"],
        ["query", "order"],
    ]
    assert all(item["type"] == "enum" for item in detail)
    assert detail[2]["msg"] == "Input should be 'asc' or 'desc'"
    assert "'awaiting_review'" in detail[0]["msg"] and "'failed'" in detail[0]["msg"]
    experiment = api.get(PATHS["experiment-runs"], exclude_status="awaiting_review").json()["detail"]
    assert experiment[0]["loc"] == ["query", "exclude_status"] and experiment[0]["type"] == "enum"


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"from_date": "2026-5-1"}, "from_date"),
        ({"to_date": "yesterday"}, "to_date"),
        ({"min_duration_ms": "1.5"}, "min_duration_ms"),
        ({"metadata": "env=prod"}, "metadata"),
        ({"sort_by": "score"}, "sort_by"),
        ({"after": "run_not_a_real_id"}, "after"),
        ({"before": "exprun_07fe00000i7q5h"}, "before"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_malformed_values_give_422_naming_the_parameter(
    api: RawApi, params: dict[str, str], loc: str
) -> None:
    response = api.get(PATHS["runs"], **params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", loc]


def test_both_sort_keys_are_accepted_and_sort_by_creation(api: RawApi) -> None:
    default = api.ids("runs")
    assert api.ids("runs", sort_by="timing.created_at") == default
    assert api.ids("experiment-runs", sort_by="created_at") == api.ids("experiment-runs")


def test_order_desc_is_the_default_and_asc_is_its_reverse(simulator: Simulator, api: RawApi) -> None:
    desc = api.records("runs")
    asc = api.records("runs", order="asc")
    assert [r["id"] for r in asc] == [r["id"] for r in reversed(desc)]
    assert asc == all_truth(simulator, "runs")
    created = [r["timing"]["created_at"] for r in asc]
    assert created == sorted(created)
    assert [r["id"] for r in asc] == sorted(r["id"] for r in asc)  # ids sort like creation


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_before_walks_back_over_the_pages_after_walked(api: RawApi, order: str) -> None:
    pages = list(api.walk("runs", order=order, limit=7))
    assert pages[0]["list_metadata"]["before"] is None
    assert pages[-1]["list_metadata"]["after"] is None
    assert all(p["list_metadata"]["after"] == p["data"][-1]["id"] for p in pages[:-1])
    assert all(p["list_metadata"]["before"] == p["data"][0]["id"] for p in pages[1:])
    back = [pages[-1]]
    while back[-1]["list_metadata"]["before"] is not None:
        back.append(api.page("runs", order=order, limit=7, before=back[-1]["list_metadata"]["before"]))
    assert [p["data"] for p in reversed(back)] == [p["data"] for p in pages]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_cursors_are_exclusive_and_bound_a_window_together(api: RawApi, order: str) -> None:
    ids = api.ids("experiment-runs", order=order)
    assert api.ids("experiment-runs", order=order, after=ids[10]) == ids[11:]
    assert [
        r["id"] for r in api.page("experiment-runs", order=order, before=ids[10], limit=4)["data"]
    ] == ids[6:10]
    window = api.page("experiment-runs", order=order, after=ids[3], before=ids[9], limit=100)
    assert [r["id"] for r in window["data"]] == ids[4:9]
    assert window["list_metadata"] == {"before": ids[4], "after": None}


def test_a_cursor_of_a_deleted_run_still_places_the_page(simulator: Simulator, api: RawApi) -> None:
    ids = api.ids("runs")
    simulator.delete("runs", ids[5])
    assert api.ids("runs", after=ids[5]) == ids[6:]
    assert ids[5] not in api.ids("runs")


def test_dates_are_inclusive_and_on_the_utc_day_of_created_at(simulator: Simulator, api: RawApi) -> None:
    for day in DAYS:
        records = api.records("runs", from_date=day, to_date=day, order="asc")
        assert records == simulator.truth("runs", day)
        assert {r["timing"]["created_at"][:10] for r in records} == {day}
    two = api.ids("runs", from_date="2026-05-09", to_date="2026-05-10")
    assert len(two) == 400
    assert api.page("runs", from_date="2026-05-10", to_date="2026-05-09")["data"] == []
    assert api.page("runs", from_date="2026-05-11")["data"] == []  # after the clock: nothing yet
    assert len(api.ids("runs", to_date="2030-01-01", from_date="2000-01-01")) == 600


def test_fields_slims_records_to_the_keys_asked_for(api: RawApi) -> None:
    body = api.page("runs", fields="id,lifecycle.status,timing", limit=3)
    assert [set(r) for r in body["data"]] == [{"id", "lifecycle", "timing"}] * 3
    assert all(set(r["lifecycle"]) == {"status"} for r in body["data"])
    assert body["list_metadata"]["after"] == body["data"][-1]["id"]


def test_single_record_gets_of_both_endpoints(simulator: Simulator, api: RawApi) -> None:
    for endpoint in ("runs", "experiment-runs"):
        record = api.page(endpoint, limit=1)["data"][0]
        response = api.get(f"{PATHS[endpoint]}/{record['id']}")
        assert response.status_code == 200 and response.json() == record
    run_id = api.page("runs", limit=1)["data"][0]["id"]
    assert api.get(f"{PATHS['experiment-runs']}/{run_id}").status_code == 404
    missing = api.get(f"{PATHS['runs']}/run_doesnotexist")
    assert missing.status_code == 404 and missing.json() == {
        "detail": "Workflow run run_doesnotexist not found"
    }
    simulator.delete("runs", run_id)
    assert api.get(f"{PATHS['runs']}/{run_id}").status_code == 404


def test_missing_or_wrong_keys_give_401_and_both_header_forms_work(simulator: Simulator) -> None:
    url = simulator.base_url + PATHS["runs"]
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 401 and isinstance(missing.json()["detail"], str)
    for headers in (
        {"Api-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": simulator.key},
    ):
        wrong = requests.get(url, headers=headers, timeout=10)
        assert wrong.status_code == 401 and wrong.json() == {"detail": "Invalid API key"}
    for headers in ({"Api-Key": simulator.key}, {"Authorization": f"Bearer {simulator.key}"}):
        assert requests.get(url, headers=headers, timeout=10).status_code == 200


def test_every_response_carries_an_x_request_id(simulator: Simulator, api: RawApi) -> None:
    responses = [
        api.get(PATHS["runs"]),
        api.get(PATHS["runs"], limit=0),
        api.get("/v1/nothing"),
        requests.get(simulator.base_url + PATHS["runs"], timeout=10),
        requests.post(simulator.base_url + PATHS["runs"], headers={"Api-Key": simulator.key}, timeout=10),
        requests.get(simulator.base_url + "/_sim/counters", timeout=10),
    ]
    assert [r.status_code for r in responses] == [200, 422, 404, 401, 405, 200]
    request_ids = [r.headers["x-request-id"] for r in responses]
    assert len(set(request_ids)) == len(request_ids)


def test_unknown_paths_are_404_and_a_trailing_slash_redirects(simulator: Simulator, api: RawApi) -> None:
    for path in ("/", "/v1", "/v2/workflows/runs", "/v1/workflows/runs/a/b"):
        response = api.get(path)
        assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
    redirect = api.session.get(simulator.base_url + "/v1/workflows/runs/?limit=2", allow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"] == "/v1/workflows/runs?limit=2"
    assert len(api.get("/v1/workflows/runs/", limit=2).json()["data"]) == 2


def test_the_test_world_is_three_days_of_the_configured_volumes(simulator: Simulator, api: RawApi) -> None:
    assert simulator.config.end == date(2026, 5, 10)
    assert len(api.ids("runs")) == 600 and len(api.ids("experiment-runs")) == 60
