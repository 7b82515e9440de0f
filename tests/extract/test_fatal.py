"""Statuses no retry can fix: raised at once, with a message that says what to do; the key never leaks."""

from __future__ import annotations

import logging
import traceback
from datetime import date

import pytest

from pipelines.endpoints import EXPERIMENT_RUNS, WORKFLOW_RUNS
from pipelines.errors import (
    AuthError,
    FatalResponse,
    NotFound,
    RetabError,
    RetriesExhausted,
    Unprocessable,
)
from pipelines.extract.client import WindowStats

from .conftest import MakeClient
from .fake_retab import MARKER_KEY, FakeRetab, Reply, listing, make_records

DAY = date(2026, 5, 10)


def walk(client, endpoint=WORKFLOW_RUNS) -> WindowStats:
    stats = WindowStats(endpoint=endpoint.name, day=DAY)
    for _ in client.iter_window_pages(endpoint, DAY, stats):
        pass
    return stats


@pytest.mark.parametrize(
    ("status", "body", "error_type", "says"),
    [
        (400, {"detail": "bad cursor"}, FatalResponse, ["HTTP 400", "bad cursor"]),
        (
            401,
            {"detail": "Invalid API key"},
            AuthError,
            ["HTTP 401", "check RETAB_API_KEY", "Invalid API key"],
        ),
        (
            403,
            {"detail": {"code": "forbidden", "message": "no access"}},
            AuthError,
            ["HTTP 403", "RETAB_API_KEY"],
        ),
        (404, {"detail": "Not Found"}, NotFound, ["HTTP 404", "check RETAB_API_BASE_URL"]),
        (
            422,
            {
                "detail": [
                    {"loc": ["query", "limit"], "msg": "Input should be <= 100", "type": "less_than_equal"}
                ]
            },
            Unprocessable,
            ["HTTP 422", "query.limit: Input should be <= 100"],
        ),
    ],
    ids=["400", "401", "403", "404", "422"],
)
def test_fatal_statuses_are_raised_at_once_with_advice(
    server: FakeRetab,
    make_client: MakeClient,
    status: int,
    body: object,
    error_type: type[FatalResponse],
    says: list[str],
) -> None:
    server.handler = lambda seen: Reply(status, body, {"x-request-id": "req_42"})
    client, sleeps = make_client()
    with pytest.raises(error_type) as caught:
        walk(client, EXPERIMENT_RUNS)
    message = str(caught.value)
    for text in [*says, "/v1/workflows/experiments/runs", "req_42"]:
        assert text in message
    assert caught.value.status == status
    assert caught.value.endpoint == "/v1/workflows/experiments/runs"
    assert len(server.list_requests(EXPERIMENT_RUNS.path)) == 1
    assert sleeps == []


def test_403_with_a_structured_detail_quotes_code_and_message(
    server: FakeRetab, make_client: MakeClient
) -> None:
    server.handler = lambda seen: Reply(
        403, {"detail": {"code": "forbidden", "message": "no access", "details": {}}}
    )
    client, _ = make_client()
    with pytest.raises(AuthError, match="Server said: forbidden: no access"):
        walk(client)


def test_an_unexpected_status_is_fatal(server: FakeRetab, make_client: MakeClient) -> None:
    server.handler = lambda seen: Reply(418, b"teapot")
    client, _ = make_client()
    with pytest.raises(FatalResponse, match=r"HTTP 418 .*unexpected status.*teapot"):
        walk(client)
    assert len(server.list_requests()) == 1


def test_redirects_are_not_followed(server: FakeRetab, make_client: MakeClient) -> None:
    server.handler = lambda seen: Reply(301, b"", {"Location": "http://evil.example/steal"})
    client, _ = make_client()
    with pytest.raises(FatalResponse, match=r"redirect.*evil\.example.*RETAB_API_BASE_URL"):
        walk(client)
    assert len(server.requests) == 1


def test_get_run_returns_the_record(server: FakeRetab, make_client: MakeClient) -> None:
    records = make_records(DAY, 3)
    server.records[WORKFLOW_RUNS.path] = {DAY: records}
    client, _ = make_client()
    assert client.get_run(WORKFLOW_RUNS, records[1]["id"]) == records[1]


def test_get_run_of_an_unknown_id_names_the_run(server: FakeRetab, make_client: MakeClient) -> None:
    server.records[WORKFLOW_RUNS.path] = {DAY: []}
    client, _ = make_client()
    with pytest.raises(NotFound, match=r"no runs record 'run_nope'.*RETAB_API_BASE_URL.*Run not found"):
        client.get_run(WORKFLOW_RUNS, "run_nope")


def test_get_run_retries_a_bad_body(server: FakeRetab, make_client: MakeClient) -> None:
    records = make_records(DAY, 1)
    server.records[WORKFLOW_RUNS.path] = {DAY: records}
    server.queue(Reply(body=b"{oops"), Reply(body=[1]))
    client, sleeps = make_client()
    assert client.get_run(WORKFLOW_RUNS, records[0]["id"]) == records[0]
    assert len(sleeps) == 2


def test_the_key_is_sent_as_a_bearer_token_with_our_user_agent(
    server: FakeRetab, make_client: MakeClient
) -> None:
    server.records[WORKFLOW_RUNS.path] = {DAY: make_records(DAY, 1)}
    client, _ = make_client()
    walk(client)
    (seen,) = server.list_requests()
    assert seen.headers["authorization"] == f"Bearer {MARKER_KEY}"
    assert seen.headers["user-agent"] == "retab-warehouse/0.1"
    assert MARKER_KEY not in str(seen.query)


def all_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(error)


@pytest.mark.parametrize(
    "script",
    [
        [Reply(401, {"detail": f"key {MARKER_KEY} is revoked"})],
        [Reply(422, {"detail": [{"loc": ["header", "Authorization"], "msg": f"Bearer {MARKER_KEY} bad"}]})],
        [Reply(500, f"boom {MARKER_KEY}".encode())] * 3,
        [Reply(429, b"", {"Retry-After": MARKER_KEY})] * 3,
        [Reply(body=f"not json {MARKER_KEY}".encode())] * 3,
        [Reply(action="reset")] * 3,
    ],
    ids=["401-echo", "422-echo", "500", "429-garbage-retry-after", "bad-body", "reset"],
)
def test_the_key_never_appears_in_errors_or_logs(
    server: FakeRetab, make_client: MakeClient, caplog: pytest.LogCaptureFixture, script: list[Reply]
) -> None:
    server.queue(*script)
    server.handler = lambda seen: Reply(503)
    client, _ = make_client(max_attempts=3)
    with caplog.at_level(logging.DEBUG), pytest.raises(RetabError) as caught:
        walk(client)
    assert MARKER_KEY not in all_text(caught.value)
    assert MARKER_KEY not in caplog.text
    assert all(MARKER_KEY not in str(r.args) for r in caplog.records)
    assert MARKER_KEY not in repr(client.config)
    if isinstance(caught.value, RetriesExhausted):
        assert caught.value.attempts == 3


def test_the_echoed_key_is_redacted_not_dropped(server: FakeRetab, make_client: MakeClient) -> None:
    server.handler = lambda seen: Reply(401, {"detail": f"key {MARKER_KEY} is revoked"})
    client, _ = make_client()
    with pytest.raises(AuthError, match=r"key \[redacted\] is revoked"):
        walk(client)


def test_a_page_before_a_fatal_error_is_still_delivered(server: FakeRetab, make_client: MakeClient) -> None:
    records = make_records(DAY, 3)
    server.queue(Reply(body=listing(records, records[-1]["id"])), Reply(401, {"detail": "expired"}))
    client, _ = make_client()
    stats = WindowStats(endpoint="runs", day=DAY)
    pages = client.iter_window_pages(WORKFLOW_RUNS, DAY, stats)
    assert len(next(pages).records) == 3
    with pytest.raises(AuthError):
        next(pages)
    assert not stats.complete and stats.pages == 1 and stats.records == 3
