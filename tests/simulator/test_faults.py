"""Each fault kind, observed from a raw client; deterministic from the seed; retries end in success."""

from __future__ import annotations

import http.client
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
import pytest
import requests
from retab.types.workflows.experiments.runs import ExperimentRun
from retab.types.workflows.runs import WorkflowRun

from retab_sim import Simulator

from .rawapi import PATHS, RawApi

Make = Callable[..., Simulator]
DAYS = ("2026-05-08", "2026-05-09", "2026-05-10")


def get_raw(sim: Simulator, target: str) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, headers, body, complete) over a fresh connection, tolerating a body cut short."""
    host, port = sim.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", target, headers={"Api-Key": sim.key})
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        try:
            return response.status, headers, response.read(), True
        except http.client.IncompleteRead as exc:
            return response.status, headers, exc.partial, False
    finally:
        conn.close()


def test_faults_are_off_by_default(simulator: Simulator, api: RawApi) -> None:
    list(api.walk("runs", limit=20))
    counters = simulator.counters()
    assert counters["faults"] == {}
    assert counters["requests_by_status"] == {"200": 30}


def test_429_carries_retry_after_in_seconds_or_as_an_http_date(make_simulator: Make) -> None:
    sim = make_simulator(fault_rate_429=1.0)
    forms = Counter[str]()
    for n in range(30):
        status, headers, body, _ = get_raw(sim, f"{PATHS['runs']}?limit={n + 1}")
        assert status == 429 and isinstance(orjson.loads(body)["detail"], str)
        retry_after = headers["retry-after"]
        if retry_after.isdigit():
            forms["seconds"] += 1
            assert 0 <= int(retry_after) <= 1
        else:
            forms["date"] += 1
            # measured from the response's Date, the simulated clock that the date is on (as a client does)
            served = parsedate_to_datetime(headers["date"])
            wait = (parsedate_to_datetime(retry_after) - served).total_seconds()
            assert -1.0 <= wait <= 1.5  # both cut to whole seconds
    assert forms["seconds"] and forms["date"]
    assert sim.counters()["faults"] == {"429": 30}


def test_5xx_errors_come_in_all_four_kinds_with_a_fastapi_body(make_simulator: Make) -> None:
    sim = make_simulator(fault_rate_5xx=1.0)
    statuses = Counter[int]()
    for n in range(40):
        status, _, body, _ = get_raw(sim, f"{PATHS['experiment-runs']}?limit={n + 1}")
        statuses[status] += 1
        assert set(orjson.loads(body)["detail"]) == {"code", "message", "details"}
    assert set(statuses) == {500, 502, 503, 504}


def test_a_disconnect_closes_the_connection_mid_body(make_simulator: Make) -> None:
    sim = make_simulator(fault_rate_disconnect=1.0)
    status, headers, body, complete = get_raw(sim, f"{PATHS['runs']}?limit=50")
    assert status == 200 and not complete
    assert 0 < len(body) < int(headers["content-length"])
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(
            sim.base_url + PATHS["runs"], params={"limit": 49}, headers={"Api-Key": sim.key}, timeout=10
        )
    assert sim.counters()["faults"] == {"disconnect": 2}


def test_a_truncated_body_is_a_complete_200_that_is_not_json(make_simulator: Make) -> None:
    sim = make_simulator(fault_rate_truncated=1.0, fault_max_attempts=1)
    target = f"{PATHS['runs']}?limit=30"
    status, headers, body, complete = get_raw(sim, target)
    assert status == 200 and complete and int(headers["content-length"]) == len(body)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)
    status, _, full, _ = get_raw(sim, target)  # the retry is past max_attempts: it succeeds
    assert status == 200 and full.startswith(body) and len(orjson.loads(full)["data"]) == 30


def test_slow_responses_and_per_page_latency_take_their_time(make_simulator: Make) -> None:
    sim = make_simulator(fault_rate_slow=1.0, fault_slow_ms=300, latency_ms=100)
    api = RawApi(sim)
    started = time.perf_counter()
    assert api.get(PATHS["runs"], limit=5).status_code == 200
    assert time.perf_counter() - started >= 0.4
    plain = RawApi(make_simulator(latency_ms=150))
    started = time.perf_counter()
    assert plain.get(PATHS["runs"], limit=5).status_code == 200
    assert time.perf_counter() - started >= 0.15
    assert sim.counters()["faults"] == {"slow": 1}


def test_a_stale_after_on_the_last_page_is_followed_by_an_empty_page(make_simulator: Make) -> None:
    sim = make_simulator(fault_rate_stale_after=1.0)
    api = RawApi(sim)
    pages = list(api.walk("experiment-runs", limit=25))
    assert [len(p["data"]) for p in pages] == [25, 25, 10, 0]
    assert pages[2]["list_metadata"]["after"] == pages[2]["data"][-1]["id"]
    assert pages[3]["list_metadata"] == {"before": None, "after": None}
    assert sim.counters()["faults"] == {"stale_after": 1}


def test_head_inserts_add_runs_at_the_head_while_a_client_walks(make_simulator: Make) -> None:
    sim = make_simulator(fault_rate_head_insert=1.0, fault_head_insert_seconds=600)
    api = RawApi(sim)
    before = sim.now
    first = api.page("runs", limit=50)
    start = sim.now
    assert start > before
    pages = [first, *api.walk("runs", limit=50, after=first["list_metadata"]["after"])]
    head = api.page("runs", limit=50)
    newer = [r for r in head["data"] if datetime.fromisoformat(r["timing"]["created_at"]) > start]
    assert newer, "runs created while the client walked appear at the head of a desc listing"
    walked = {r["id"] for p in pages for r in p["data"]}
    assert not walked & {r["id"] for r in newer}
    assert sim.counters()["faults"]["head_insert"] == len(pages) + 1


@pytest.mark.parametrize(("endpoint", "model"), [("runs", WorkflowRun), ("experiment-runs", ExperimentRun)])
def test_unknown_fields_are_added_and_the_sdk_ignores_them(
    make_simulator: Make, endpoint: str, model: Any
) -> None:
    sim = make_simulator(fault_rate_unknown_fields=1.0)
    served = RawApi(sim).page(endpoint, limit=20)["data"]
    truth = {r["id"]: r for day in DAYS for r in sim.truth(endpoint, day)}
    for record in served:
        assert set(record) - set(truth[record["id"]]), "every record gets an extra key"
        assert model.model_validate(record) == model.model_validate(truth[record["id"]])
    assert sim.counters()["faults"] == {"unknown_fields": 20}


@pytest.mark.parametrize(("endpoint", "model"), [("runs", WorkflowRun), ("experiment-runs", ExperimentRun)])
def test_missing_optional_fields_leave_out_only_nulls_and_defaults(
    make_simulator: Make, endpoint: str, model: Any
) -> None:
    sim = make_simulator(fault_rate_missing_fields=1.0)
    served = RawApi(sim).page(endpoint, limit=40)["data"]
    truth = {r["id"]: r for day in DAYS for r in sim.truth(endpoint, day)}
    dropped = 0
    for record in served:
        full = truth[record["id"]]
        for key in set(full) - set(record):
            assert full[key] is None or full[key] == 0, f"{key}={full[key]!r} was dropped"
            dropped += 1
        assert model.model_validate(record) == model.model_validate(full)
    assert dropped > 0


def test_a_retried_request_succeeds_once_max_attempts_have_failed(make_simulator: Make) -> None:
    sim = make_simulator(fault_rate_5xx=0.5, fault_rate_429=0.5, fault_max_attempts=4)
    target = f"{PATHS['runs']}?limit=10&order=asc"
    statuses = [get_raw(sim, target)[0] for _ in range(6)]
    assert all(s in (429, 500, 502, 503, 504) for s in statuses[:4])
    assert statuses[4:] == [200, 200]


def test_faults_are_deterministic_from_the_seed_and_the_request(make_simulator: Make) -> None:
    def statuses(seed: int) -> list[int]:
        sim = make_simulator(seed=seed, faults="hostile")
        return [get_raw(sim, f"{PATHS['runs']}?limit={n % 7 + 1}")[0] for n in range(60)]

    first = statuses(3)
    assert first == statuses(3)
    assert first != statuses(4)
    assert set(first) - {200}


@pytest.mark.parametrize("profile", ["mild", "hostile"])
def test_a_retrying_client_gets_exactly_the_truth_through_a_profile(
    make_simulator: Make, profile: str
) -> None:
    sim = make_simulator(faults=profile, runs_per_day=2_000, fault_slow_ms=20)
    session = requests.Session()
    session.headers["Api-Key"] = sim.key
    day = "2026-05-09"
    params: dict[str, Any] = {"from_date": day, "to_date": day, "limit": 100, "order": "asc"}
    seen: list[str] = []
    while True:
        try:
            response = session.get(sim.base_url + PATHS["runs"], params=params, timeout=10)
            body = orjson.loads(response.content) if response.status_code == 200 else None
        except (requests.exceptions.RequestException, orjson.JSONDecodeError):
            body = None
        if body is None:
            continue
        seen += [r["id"] for r in body["data"]]
        if not body["data"] or body["list_metadata"]["after"] is None:
            break
        params["after"] = body["list_metadata"]["after"]
    assert seen == list(sim.truth_ids("runs", day))
    injected = sim.counters()["faults"]
    assert sum(injected.values()) > 0
    if profile == "hostile":
        assert {"429", "disconnect", "truncated", "stale_after"} <= set(injected)
