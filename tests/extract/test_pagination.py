"""Walking a day window: the query sent, where the walk ends, and the loop guard."""

from __future__ import annotations

from datetime import date

import pytest

from pipelines.endpoints import EXPERIMENT_RUNS, WORKFLOW_RUNS
from pipelines.errors import LoopDetected, TooManyPages, TransientError
from pipelines.extract.client import WindowStats
from pipelines.extract.pagination import Page, iter_pages, next_cursor, parse_page

from .conftest import MakeClient
from .fake_retab import FakeRetab, Reply, Seen, listing, make_records

DAY = date(2026, 5, 10)


def walk(client, endpoint=WORKFLOW_RUNS, day: date = DAY) -> tuple[list[str], WindowStats]:
    stats = WindowStats(endpoint=endpoint.name, day=day)
    ids = [r["id"] for page in client.iter_window_pages(endpoint, day, stats) for r in page.records]
    return ids, stats


@pytest.mark.parametrize("endpoint", [WORKFLOW_RUNS, EXPERIMENT_RUNS], ids=lambda e: e.name)
def test_a_window_walks_every_page_in_ascending_order(
    server: FakeRetab, make_client: MakeClient, endpoint
) -> None:
    records = make_records(DAY, 250)
    server.records[endpoint.path] = {DAY: records, date(2026, 5, 11): make_records(date(2026, 5, 11), 5)}
    client, _ = make_client()
    ids, stats = walk(client, endpoint)
    assert ids == [r["id"] for r in records]
    requests = server.list_requests(endpoint.path)
    assert [seen.query for seen in requests] == [
        {"from_date": "2026-05-10", "to_date": "2026-05-10", "limit": "100", "order": "asc"},
        {
            "from_date": "2026-05-10",
            "to_date": "2026-05-10",
            "limit": "100",
            "order": "asc",
            "after": ids[99],
        },
        {
            "from_date": "2026-05-10",
            "to_date": "2026-05-10",
            "limit": "100",
            "order": "asc",
            "after": ids[199],
        },
    ]
    assert (stats.pages, stats.records, stats.complete, stats.duplicates) == (3, 250, True, 0)
    assert stats.bytes > 250 * 40
    assert stats.seconds > 0


def test_an_empty_day_is_one_request(server: FakeRetab, make_client: MakeClient) -> None:
    server.records[WORKFLOW_RUNS.path] = {}
    client, _ = make_client()
    ids, stats = walk(client)
    assert ids == [] and stats.complete and stats.pages == 1


def test_an_empty_page_ends_the_walk_even_with_a_non_null_after(
    server: FakeRetab, make_client: MakeClient
) -> None:
    records = make_records(DAY, 3)
    server.queue(Reply(body=listing(records, records[-1]["id"])), Reply(body=listing([], "run_more")))
    server.handler = lambda seen: Reply(500)  # a third request would fail the test
    client, _ = make_client(max_attempts=1)
    ids, stats = walk(client)
    assert ids == [r["id"] for r in records]
    assert stats.complete and stats.pages == 2


def test_a_repeated_cursor_is_a_loop(server: FakeRetab, make_client: MakeClient) -> None:
    first, second = make_records(DAY, 4)[:2], make_records(DAY, 4)[2:]

    def looping(seen: Seen) -> Reply:
        # the server ignores `after` past the second page and hands back the first cursor again
        if seen.query.get("after") == "c1":
            return Reply(body=listing(second, "c1"))
        return Reply(body=listing(first, "c1"))

    server.handler = looping
    client, _ = make_client()
    with pytest.raises(
        LoopDetected, match=r"runs 2026-05-10: page 2 returned the cursor 'c1' already returned by page 1"
    ):
        walk(client)
    assert len(server.list_requests()) == 2


def test_a_page_of_ids_already_seen_is_a_loop(server: FakeRetab, make_client: MakeClient) -> None:
    records = make_records(DAY, 6)
    pages = iter([listing(records[:3], "a"), listing(records[3:], "b"), listing(records[1:4], "c")])
    server.handler = lambda seen: Reply(body=next(pages))
    client, _ = make_client()
    with pytest.raises(LoopDetected, match=r"page 3 .* holds only ids already seen"):
        walk(client)


def test_single_repeated_ids_are_passed_on_and_counted(server: FakeRetab, make_client: MakeClient) -> None:
    records = make_records(DAY, 6)
    pages = iter([listing(records[:3], "a"), listing(records[2:5], "b"), listing(records[5:], None)])
    server.handler = lambda seen: Reply(body=next(pages))
    client, _ = make_client()
    ids, stats = walk(client)
    assert ids == [r["id"] for r in records[:3] + records[2:5] + records[5:]]
    assert stats.duplicates == 1 and stats.records == 7 and stats.complete


def test_the_page_cap_stops_an_endless_listing(server: FakeRetab, make_client: MakeClient) -> None:
    counter = iter(range(10**6))

    def endless(seen: Seen) -> Reply:
        n = next(counter)
        return Reply(body=listing([{"id": f"run_{n}"}], f"cursor_{n}"))

    server.handler = endless
    client, _ = make_client(max_pages_per_window=5)
    with pytest.raises(TooManyPages, match="more than 5 pages"):
        walk(client)
    assert len(server.list_requests()) == 5


def test_records_without_ids_are_passed_on(server: FakeRetab, make_client: MakeClient) -> None:
    server.queue(Reply(body=listing([{"x": 1}, {"id": 5}], "a")), Reply(body=listing([{"x": 1}], None)))
    client, _ = make_client()
    stats = WindowStats(endpoint="runs", day=DAY)
    pages = list(client.iter_window_pages(WORKFLOW_RUNS, DAY, stats))
    assert [len(p.records) for p in pages] == [2, 1]


def test_iter_pages_is_a_pure_loop_over_fetch() -> None:
    pages = {None: Page([{"id": "a"}], "a", 10), "a": Page([{"id": "b"}], None, 10)}
    queries: list[dict[str, str]] = []

    def fetch(query: dict[str, str]) -> Page:
        queries.append(dict(query))
        return pages[query.get("after")]

    walked = list(iter_pages(fetch, {"limit": "1"}, label="t", max_pages=10))
    assert [p.records[0]["id"] for p in walked] == ["a", "b"]
    assert queries == [{"limit": "1"}, {"limit": "1", "after": "a"}]


def test_parse_page_reads_the_envelope() -> None:
    body = b'{"data": [{"id": "r1"}], "list_metadata": {"before": "r1", "after": "r1"}, "extra": 1}'
    assert parse_page(body) == Page(records=[{"id": "r1"}], after="r1", nbytes=len(body))
    assert next_cursor({"list_metadata": {"after": None}}) is None
    with pytest.raises(TransientError) as caught:
        parse_page(b'{"data": [], "list_metadata": {"after": 7}}')
    assert caught.value.cause == "bad_body"
