"""The retry policy against the fake server: what is retried, how long it waits, when it stops."""

from __future__ import annotations

import gzip
import json
import logging
import time
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import pytest

from pipelines.endpoints import WORKFLOW_RUNS
from pipelines.errors import NotFound, RetriesExhausted, TransientError
from pipelines.extract.client import WindowStats
from pipelines.extract.retry import parse_retry_after

from .conftest import MakeClient
from .fake_retab import FakeRetab, Reply, listing, make_records

DAY = date(2026, 5, 10)
PAGE = listing(make_records(DAY, 3), None)


def walk(client, day: date = DAY) -> tuple[list[str], WindowStats]:
    stats = WindowStats(endpoint=WORKFLOW_RUNS.name, day=day)
    ids = [r["id"] for page in client.iter_window_pages(WORKFLOW_RUNS, day, stats) for r in page.records]
    return ids, stats


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def test_retry_after_seconds_sets_the_wait(server: FakeRetab, make_client: MakeClient) -> None:
    server.queue(Reply(429, {"detail": "slow down"}, {"Retry-After": "7"}), Reply(body=PAGE))
    client, sleeps = make_client()
    ids, stats = walk(client)
    assert sleeps == [7.0]
    assert len(ids) == 3
    assert stats.retries == {"429": 1}


def test_retry_after_http_date_is_measured_from_the_response_date(
    server: FakeRetab, make_client: MakeClient
) -> None:
    sent = datetime(2026, 5, 10, 12, 0, 0, tzinfo=UTC)
    server.queue(
        Reply(429, b"", {"Date": http_date(sent), "Retry-After": http_date(sent + timedelta(seconds=9))}),
        Reply(body=PAGE),
    )
    client, sleeps = make_client()
    walk(client)
    assert sleeps == [9.0]


def test_retry_after_http_date_without_a_date_header_uses_our_clock() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    seconds = parse_retry_after(http_date(when))
    assert seconds is not None and 28 <= seconds <= 30


def test_retry_after_is_honoured_on_503_too(server: FakeRetab, make_client: MakeClient) -> None:
    server.queue(Reply(503, b"", {"Retry-After": "2.5"}), Reply(body=PAGE))
    client, sleeps = make_client()
    _, stats = walk(client)
    assert sleeps == [2.5]
    assert stats.retries == {"503": 1}


def test_retry_after_above_the_cap_is_capped(server: FakeRetab, make_client: MakeClient) -> None:
    server.queue(Reply(429, b"", {"Retry-After": "3600"}), Reply(body=PAGE))
    client, sleeps = make_client(max_retry_after=12.0)
    walk(client)
    assert sleeps == [12.0]


@pytest.mark.parametrize(
    "header",
    ["0", "-5", "soon", "", "Sun, 10 May 2020 12:00:00 GMT", "nan"],
    ids=["zero", "negative", "garbage", "empty", "date-in-the-past", "nan"],
)
def test_unusable_retry_after_falls_back_to_jittered_backoff(
    server: FakeRetab, make_client: MakeClient, header: str
) -> None:
    server.queue(*[Reply(429, b"", {"Retry-After": header})] * 3, Reply(body=PAGE))
    client, sleeps = make_client(backoff_initial=0.5, backoff_max=30.0)
    walk(client)
    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps, start=1):
        assert 0 <= wait <= 0.5 * 2 ** (attempt - 1)  # full jitter: uniform in [0, window]


def test_backoff_is_jittered_and_its_window_grows(server: FakeRetab, make_client: MakeClient) -> None:
    server.queue(*[Reply(500)] * 7, Reply(body=PAGE))
    client, sleeps = make_client(backoff_initial=1.0, backoff_max=4.0)
    walk(client)
    assert len(sleeps) == 7
    assert all(0 <= wait <= min(4.0, 2 ** (n - 1)) for n, wait in enumerate(sleeps, start=1))
    assert len(set(sleeps)) > 1  # random, not a fixed ladder


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retriable_statuses_are_retried(server: FakeRetab, make_client: MakeClient, status: int) -> None:
    server.queue(Reply(status, {"detail": "try later"}), Reply(body=PAGE))
    client, sleeps = make_client()
    ids, stats = walk(client)
    assert len(ids) == 3 and len(sleeps) == 1
    assert stats.retries == {str(status): 1}
    assert len(server.list_requests()) == 2


@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        (Reply(body=b"<html>gateway</html>"), "bad_body"),
        (Reply(body=b'{"data": [], "list_meta'), "bad_body"),
        (Reply(body={"data": []}), "bad_body"),
        (Reply(body={"list_metadata": {"after": None}}), "bad_body"),
        (Reply(body={"data": "nope", "list_metadata": {}}), "bad_body"),
        (Reply(body=[1, 2]), "bad_body"),
        (Reply(body={"data": [1], "list_metadata": {"after": None}}), "bad_body"),
        (Reply(body=PAGE, action="truncate"), "connection"),
        (Reply(action="close"), "connection"),
        (Reply(action="reset"), "connection"),
    ],
    ids=[
        "html",
        "truncated-json",
        "no-list-metadata",
        "no-data",
        "data-not-a-list",
        "not-an-object",
        "record-not-an-object",
        "closed-mid-body",
        "closed-before-reply",
        "reset",
    ],
)
def test_broken_replies_are_retried(
    server: FakeRetab, make_client: MakeClient, reply: Reply, cause: str
) -> None:
    server.queue(reply, Reply(body=PAGE))
    client, sleeps = make_client()
    ids, stats = walk(client)
    assert len(ids) == 3
    assert stats.retries == {cause: 1}
    assert len(sleeps) == 1


def test_read_timeout_is_retried(server: FakeRetab, make_client: MakeClient) -> None:
    server.queue(Reply(action="hang"), Reply(body=PAGE))
    client, _ = make_client(read_timeout=0.5)  # the retry must fit in it too, on a loaded machine
    ids, stats = walk(client)
    assert len(ids) == 3
    assert stats.retries == {"read_timeout": 1}


def test_connection_refused_is_retried_then_gives_up(make_client: MakeClient) -> None:
    client, sleeps = make_client(
        base_url="http://127.0.0.1:9", max_attempts=3
    )  # discard port: nothing listens
    with pytest.raises(RetriesExhausted) as caught:
        walk(client)
    assert caught.value.attempts == 3
    assert caught.value.last.cause in {"connection", "connect_timeout"}
    assert len(sleeps) == 2


def test_gives_up_after_max_attempts(server: FakeRetab, make_client: MakeClient) -> None:
    server.handler = lambda seen: Reply(503)
    client, sleeps = make_client(max_attempts=4)
    with pytest.raises(RetriesExhausted, match="gave up after 4 attempts") as caught:
        walk(client)
    assert len(server.list_requests()) == 4
    assert len(sleeps) == 3
    assert isinstance(caught.value.__cause__, TransientError)
    assert caught.value.last.cause == "503"


def test_gives_up_before_a_wait_would_pass_the_time_budget(
    server: FakeRetab, make_client: MakeClient
) -> None:
    server.handler = lambda seen: Reply(429, b"", {"Retry-After": "10"})
    client, sleeps = make_client(max_attempts=100, max_retry_seconds=35.0)
    with pytest.raises(RetriesExhausted):
        walk(client)
    assert sleeps == [10.0, 10.0, 10.0]  # a fourth wait would end at 40 s
    assert len(server.list_requests()) == 4


def test_each_retry_is_logged_with_endpoint_cause_attempt_and_wait(
    server: FakeRetab, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    server.queue(
        Reply(429, b"", {"Retry-After": "3"}), Reply(502, b"", {"Retry-After": "1"}), Reply(body=PAGE)
    )
    client, _ = make_client(max_attempts=8)
    with caplog.at_level(logging.WARNING, logger="pipelines"):
        walk(client)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "retrying runs 2026-05-10 after 429 (attempt 1 of 8 failed), waiting 3.00 s",
        "retrying runs 2026-05-10 after 502 (attempt 2 of 8 failed), waiting 1.00 s",
    ]


def test_each_request_is_retried_on_its_own(server: FakeRetab, make_client: MakeClient) -> None:
    records = make_records(DAY, 250)
    server.records[WORKFLOW_RUNS.path] = {DAY: records}
    pages = 0

    def flaky(seen) -> Reply | None:
        nonlocal pages
        pages += 1
        return Reply(503) if pages % 2 == 1 else None  # every page fails once, then succeeds

    server.handler = flaky
    client, _ = make_client(max_attempts=2)
    ids, stats = walk(client)
    assert ids == [r["id"] for r in records]
    assert stats.retries == {"503": 3}


@pytest.mark.parametrize(
    ("header", "expected"),
    [("12", 12.0), (" 1.5 ", 1.5), ("0", 0.0), ("-3", -3.0), ("x", None), ("", None), ("inf", None)],
)
def test_parse_retry_after_seconds(header: str, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date_forms() -> None:
    now = datetime(1994, 11, 6, 8, 49, 0, tzinfo=UTC)
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now=now) == 37.0
    assert parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now=now) == 37.0  # RFC 850 form
    assert parse_retry_after("Sun, 06 Nov 1994 08:48:00 GMT", now=now) == -60.0


def test_a_trickling_body_cannot_outlast_the_read_timeout(server: FakeRetab, make_client: MakeClient) -> None:
    server.queue(Reply(body=PAGE, action="trickle"), Reply(body=PAGE))
    client, _ = make_client(read_timeout=0.5)  # the retry must fit in it too, on a loaded machine
    started = time.monotonic()
    ids, stats = walk(client)
    assert len(ids) == 3
    assert stats.retries == {"read_timeout": 1}
    assert time.monotonic() - started < 4.0  # the whole trickle would take len(PAGE) * 20 ms, over 5 s


def test_gzip_bodies_are_decoded(server: FakeRetab, make_client: MakeClient) -> None:
    body = gzip.compress(json.dumps(PAGE).encode())
    server.queue(Reply(body=body, headers={"Content-Encoding": "gzip"}))
    client, _ = make_client()
    ids, stats = walk(client)
    assert len(ids) == 3 and stats.bytes == len(json.dumps(PAGE))


def test_a_corrupt_gzip_body_is_retried(server: FakeRetab, make_client: MakeClient) -> None:
    server.queue(Reply(body=b"\x1f\x8b\x08garbage", headers={"Content-Encoding": "gzip"}), Reply(body=PAGE))
    client, _ = make_client()
    _, stats = walk(client)
    assert stats.retries == {"bad_body": 1}


def test_pages_and_errors_reuse_one_keep_alive_connection(server: FakeRetab, make_client: MakeClient) -> None:
    server.records[WORKFLOW_RUNS.path] = {DAY: make_records(DAY, 450)}
    server.queue(Reply(503, {"detail": "busy"}), Reply(404, {"detail": "Not Found"}))
    client, _ = make_client()
    with pytest.raises(NotFound):
        walk(client)
    ids, stats = walk(client)
    assert len(ids) == 450 and stats.pages == 5
    assert server.connections == 1
