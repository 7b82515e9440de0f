"""Bad input: each gives a clear error (what is wrong, what to do) and leaves the warehouse as it was.

The API cases run the CLI's own `sync_and_report` in this process against a scripted loopback
server (reliability/scripted_api.py) after a first good sync; the warehouse's data tables must
be equal before and after. Records without an id, of the wrong types or with timestamps without
an offset are not errors: the sync succeeds and they land, counted, in retab.rejected_records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests

from pipelines.cli.sync_command import sync_and_report
from pipelines.config import Settings
from pipelines.errors import EXIT_FAILED, EXIT_FIX_FIRST
from pipelines.extract.client import ClientConfig, RetabClient
from pipelines.sync.orchestrator import parse_endpoints, sync
from reliability.scripted_api import (
    EXPERIMENT_RUNS_PATH,
    RUNS_PATH,
    Answer,
    Request,
    ScriptedApi,
    experiment_record,
    run_record,
    scripted_api,
)
from reliability.summary import Tally
from reliability.world import changed_rows, connect_read_only, data_snapshot, sync_log

DAY = date(2026, 5, 1)
KEY = "sk-scripted-key"


def flat(text: str) -> str:
    """Text with its line wrapping undone (the summary wraps long messages on narrow terminals)."""
    return " ".join(text.split())


@dataclass
class World:
    api: ScriptedApi
    settings: Settings

    @property
    def path(self) -> Path:
        return self.settings.duckdb_path


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A scripted API holding one honest day, and a warehouse already synced from it."""
    with scripted_api(KEY) as api:
        api.records[RUNS_PATH][DAY] = [run_record(f"run_{n:04d}", DAY) for n in range(230)]
        api.records[EXPERIMENT_RUNS_PATH][DAY] = [
            experiment_record(f"exprun_{n:03d}", DAY) for n in range(30)
        ]
        settings = Settings(
            api_key=KEY,
            base_url=api.base_url,
            duckdb_path=tmp_path / "warehouse" / "retab.duckdb",
            max_attempts=2,
            max_retry_seconds=10,
            lock_wait=5,
        )
        assert sync(settings, parse_endpoints("all"), [DAY]).ok
        yield World(api, settings)


def cli_sync(settings: Settings, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The CLI's sync (after argument parsing) for DAY; its exit code and what it printed."""
    code = sync_and_report(settings, parse_endpoints("all"), [DAY], refresh_open=False, quiet=True)
    captured = capsys.readouterr()
    return code, flat(captured.out + captured.err)


@dataclass(frozen=True)
class ApiCase:
    name: str
    answer: Callable[[Request], Answer | None] | None
    expected: tuple[str, ...]  # every fragment must be in the output
    settings: Callable[[Settings], Settings] = lambda s: s


def html_page(request: Request) -> Answer:
    page = b"<!DOCTYPE html><html><head><title>Sign in - Corp Proxy</title></head><body>Sign in</body></html>"
    return Answer(200, page, {"Content-Type": "text/html; charset=utf-8"})


def same_cursor(request: Request) -> Answer:
    return Answer.json({"data": [run_record("run_loop", DAY)], "list_metadata": {"after": "cursor-1"}})


def fresh_cursor_same_page(request: Request) -> Answer:
    after = str(int(request.query.get("after", "0")) + 1)
    return Answer.json({"data": [run_record("run_loop", DAY)], "list_metadata": {"after": after}})


def cycling_cursors(request: Request) -> Answer:
    after = {"": "a", "a": "b", "b": "a"}[request.query.get("after", "")]
    records = [run_record(f"run_{request.query.get('after', '')}{n}", DAY) for n in range(2)]
    return Answer.json({"data": records, "list_metadata": {"after": after}})


API_CASES = [
    ApiCase(
        "wrong key (401)", None, ("HTTP 401", "check RETAB_API_KEY"), lambda s: replace(s, api_key="sk-wrong")
    ),
    ApiCase(
        "forbidden (403)",
        lambda r: Answer.json({"detail": "This key may not list workflow runs"}, 403),
        ("HTTP 403", "RETAB_API_KEY", "This key may not list workflow runs"),
    ),
    ApiCase(
        "wrong base URL path (404)",
        None,
        ("HTTP 404", "check RETAB_API_BASE_URL"),
        lambda s: replace(s, base_url=s.base_url + "/retab"),
    ),
    ApiCase(
        "connection refused",
        None,
        ("connection refused by 127.0.0.1:9", "check the host and port in RETAB_API_BASE_URL"),
        lambda s: replace(s, base_url="http://127.0.0.1:9"),
    ),
    ApiCase(
        "422",
        lambda r: Answer.json(
            {"detail": [{"loc": ["query", "order"], "msg": "unexpected value", "type": "x"}]}, 422
        ),
        ("HTTP 422", "the server rejected the query", "query.order: unexpected value"),
    ),
    ApiCase(
        "HTML page with status 200",
        html_page,
        (
            "answered with an HTML page titled 'Sign in - Corp Proxy'",
            "set it to the API's base URL",
            "gave up after 2",
        ),
    ),
    ApiCase(
        "non-UTF-8 body",
        lambda r: Answer(200, b'{"data": [{"id": "run_\xff\xfe"}], "list_metadata": {"after": null}}'),
        ("not valid UTF-8", "gave up after 2 attempts", "run the same command again"),
    ),
    ApiCase("endless cursor (repeated)", same_cursor, ("pagination loops",)),
    ApiCase("endless cursor (new cursor, same page)", fresh_cursor_same_page, ("pagination loops",)),
    ApiCase("endless cursor (cycle)", cycling_cursors, ("already returned by page", "pagination loops")),
    ApiCase(
        "server error body echoing markup",
        lambda r: Answer.json({"detail": "use [/v1] paths, not [bold]"}, 400),
        ("HTTP 400", "use [/v1] paths, not [bold]"),
    ),
]


@pytest.mark.parametrize("case", API_CASES, ids=[c.name for c in API_CASES])
def test_bad_api_answers_fail_clearly_and_change_nothing(
    case: ApiCase, world: World, capsys: pytest.CaptureFixture[str], tally: Tally
) -> None:
    with tally.case("bad input") as counted:
        before = data_snapshot(world.path)
        world.api.answer = case.answer
        code, output = cli_sync(case.settings(world.settings), capsys)
        changed = changed_rows(before, data_snapshot(world.path))
        counted.lose(changed)
        refused = case.expected[0].startswith("HTTP ")  # a status no retry fixes: fix first (2)
        assert code == (EXIT_FIX_FIRST if refused else EXIT_FAILED), output
        for fragment in case.expected:
            assert fragment in output, f"{case.name}: {fragment!r} not in the output:\n{output}"
        assert "Traceback" not in output
        assert changed == 0, f"{case.name}: {changed} rows changed"
        failed = [row for row in sync_log(world.path) if row["outcome"] == "failed"]
        assert failed, "sync_log shows no failed attempt"


def test_an_unknown_host_fails_clearly_and_writes_no_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tally: Tally
) -> None:
    with tally.case("bad input") as counted:
        settings = Settings(
            api_key=KEY,
            base_url="https://retab-warehouse-test.invalid",
            duckdb_path=tmp_path / "retab.duckdb",
            max_attempts=2,
            max_retry_seconds=10,
        )
        code, output = cli_sync(settings, capsys)
        rows = sum(len(rows) for rows in data_snapshot(settings.duckdb_path).values())
        counted.lose(rows)
        assert code == 1
        assert "cannot resolve the host 'retab-warehouse-test.invalid'" in output, output
        assert "check the host name in RETAB_API_BASE_URL" in output, output
        assert rows == 0


def test_a_different_source_is_refused_before_any_request(
    world: World, capsys: pytest.CaptureFixture[str], tally: Tally
) -> None:
    with tally.case("bad input") as counted:
        before = data_snapshot(world.path)
        code, output = cli_sync(
            replace(world.settings, base_url="https://retab-warehouse-test.invalid"), capsys
        )
        changed = changed_rows(before, data_snapshot(world.path))
        counted.lose(changed)
        assert code == EXIT_FIX_FIRST
        assert "simulator and real-API data (or two accounts' APIs) must not mix" in output, output
        assert "Set RETAB_DUCKDB_PATH to another file" in output
        assert changed == 0


def test_endless_fresh_pages_stop_at_the_page_cap(world: World, tally: Tally) -> None:
    counter = iter(range(1, 1_000_000))

    def endless(request: Request) -> Answer:
        n = next(counter)
        return Answer.json({"data": [run_record(f"run_new_{n}", DAY)], "list_metadata": {"after": f"c{n}"}})

    with tally.case("bad input") as counted:
        before = data_snapshot(world.path)
        world.api.requests.clear()
        world.api.answer = endless
        config = ClientConfig(api_key=KEY, base_url=world.api.base_url, max_pages_per_window=40)
        with RetabClient(config) as client:
            report = sync(world.settings, parse_endpoints("runs"), [DAY], client=client)
        changed = changed_rows(before, data_snapshot(world.path))
        counted.lose(changed)
        (failed,) = report.failed
        assert "more than 40 pages" in str(failed.error)
        assert len(world.api.requests) <= 41
        assert changed == 0


def test_bad_records_are_rejected_counted_and_the_rest_loaded(world: World, tally: Tally) -> None:
    good = [run_record(f"run_{n:04d}", DAY) for n in range(120)]
    without_id = {k: v for k, v in run_record("x", DAY).items() if k != "id"}
    bad = [
        without_id,
        run_record(12345, DAY),  # type: ignore[arg-type]  # an id that is not a string
        run_record("run_bad_status", DAY, lifecycle={"status": 7}),
        run_record("run_bad_time_type", DAY, timing={"created_at": 1746100800}),
        run_record("run_naive_time", DAY, timing={"created_at": "2026-05-01T12:00:00"}),
    ]
    experiments = [experiment_record(f"exprun_{n:03d}", DAY) for n in range(10)]
    bad_experiments = [
        experiment_record("exprun_naive", DAY, timing={"created_at": "2026-05-01 12:00:00"}),
        experiment_record("exprun_score_text", DAY, score="high"),
    ]
    with tally.case("bad input") as counted:
        world.api.records[RUNS_PATH][DAY] = good[:60] + bad + good[60:]
        world.api.records[EXPERIMENT_RUNS_PATH][DAY] = experiments[:5] + bad_experiments + experiments[5:]
        report = sync(world.settings, parse_endpoints("all"), [DAY])
        assert report.ok, [p.error for p in report.failed]
        con = connect_read_only(world.path)
        try:
            runs = {r for (r,) in con.execute("SELECT id FROM retab.workflow_runs").fetchall()}
            exps = {r for (r,) in con.execute("SELECT id FROM retab.experiment_runs").fetchall()}
            rejected = con.execute(
                "SELECT endpoint, reason FROM retab.rejected_records WHERE day = ? ORDER BY endpoint, reason",
                [DAY],
            ).fetchall()
        finally:
            con.close()
        lost = len({r["id"] for r in good} ^ runs) + len({r["id"] for r in experiments} ^ exps)
        counted.lose(lost + abs(len(rejected) - len(bad) - len(bad_experiments)))
        assert lost == 0
        assert [p.rejected for p in sorted(report.partitions, key=lambda p: p.endpoint)] == [2, 5]
        reasons = " | ".join(reason for _, reason in rejected)
        for fragment in (
            "id: missing",
            "id: expected a non-empty string",
            "lifecycle.status",
            "has no UTC offset",
        ):
            assert fragment in reasons, reasons
        assert len(rejected) == len(bad) + len(bad_experiments)
        logged = {row["endpoint"]: row["rejected"] for row in sync_log(world.path)[-2:]}
        assert logged == {"runs": 5, "experiment-runs": 2}


def test_a_10_mb_field_is_stored_whole(world: World, tally: Tally) -> None:
    blob = "x" * 10_000_000 + "end"
    message = "e" * 10_000_000
    with tally.case("bad input") as counted:
        world.api.records[RUNS_PATH][DAY] = [
            *(run_record(f"run_{n:04d}", DAY) for n in range(50)),
            run_record("run_big_metadata", DAY, metadata={"blob": blob}),
            run_record("run_big_error", DAY, lifecycle={"status": "error", "message": message}),
        ]
        report = sync(world.settings, parse_endpoints("runs"), [DAY])
        con = connect_read_only(world.path)
        try:
            stored = dict(
                con.execute(
                    "SELECT id, coalesce(json_extract_string(metadata, '$.blob'), error_message) "
                    "FROM retab.workflow_runs WHERE id LIKE 'run_big%'"
                ).fetchall()
            )
            count = con.execute("SELECT count(*) FROM retab.workflow_runs").fetchone()
        finally:
            con.close()
        intact = stored.get("run_big_metadata") == blob and stored.get("run_big_error") == message
        counted.lose(0 if intact else 2)
        assert report.ok, [p.error for p in report.failed]
        assert intact, {k: len(v or "") for k, v in stored.items()}
        assert count == (52,)


class CountingSession(requests.Session):
    """A session that counts its GETs."""

    calls = 0

    def get(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.calls += 1
        return super().get(*args, **kwargs)


@pytest.mark.parametrize("where", ["connection refused", "HTML instead of the API"])
def test_a_wrong_base_url_stops_the_sync_instead_of_trying_every_day(
    where: str, tmp_path: Path, tally: Tally
) -> None:
    """Once the retries of the first day are spent, the other days are reported failed, not each tried."""
    days = [date(2026, 4, day) for day in range(1, 11)]
    with tally.case("bad input"), scripted_api(KEY) as api:
        api.answer = html_page
        base_url = "http://127.0.0.1:9" if where == "connection refused" else api.base_url
        settings = Settings(
            api_key=KEY, base_url=base_url, duckdb_path=tmp_path / "retab.duckdb", concurrency=2
        )
        config = ClientConfig(api_key=KEY, base_url=base_url, max_attempts=2, backoff_initial=0.01)
        session = CountingSession()
        with session, RetabClient(config, session=session) as client:
            report = sync(settings, parse_endpoints("runs"), days, client=client)
        calls = session.calls
        expected = "connection refused by 127.0.0.1:9" if where == "connection refused" else "an HTML page"
        assert len(report.failed) == len(days)
        assert all(expected in str(p.error) for p in report.failed), report.failed[0].error
        assert calls <= 2 * 2, f"{calls} requests: the days kept being tried"
