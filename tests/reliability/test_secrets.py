"""Secrets: the API key appears in no output, log, exception, metadata or file, whatever happens.

RETAB_API_KEY is set to a unique marker; the CLI and a Dagster materialization run against the
simulator (accepting the marker) and against scripted servers that refuse it or fail, some of them
echoing the Authorization header back in their error bodies. Afterwards the marker must be in no
captured stdout/stderr, log record, exception text, Dagster event or metadata, and in no byte of
any file under the test's directory: the warehouse and its .wal, spill and temp files (TMPDIR
points there), DAGSTER_HOME. Plain http to a host that is not loopback is refused before any
request (a loopback proxy would see it).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from pipelines.config import Settings
from pipelines.errors import EXIT_FAILED, EXIT_FIX_FIRST
from pipelines.sync.orchestrator import parse_endpoints, sync
from reliability.scripted_api import Answer, Request, ScriptedApi, scripted_api
from reliability.summary import Tally
from reliability.world import cli_env, days_from, run_cli, sync_args
from retab_sim import Simulator

END = datetime.now(UTC).date() - timedelta(days=1)
DAYS = days_from(END - timedelta(days=1), 2)
MARKER = f"sk-secret-{uuid.uuid4().hex}"


def files_holding(root: Path, needle: str) -> list[str]:
    """Every file under root whose bytes contain needle (as UTF-8 or UTF-16)."""
    patterns = [needle.encode(), needle.encode("utf-16-le")]
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(p in data for p in patterns):
                found.append(str(path.relative_to(root)))
    return found


def echo_key(status: int) -> Callable[[Request], Answer]:
    """A server that puts the Authorization header it received into its error body."""

    def answer(request: Request) -> Answer:
        echoed = request.headers.get("authorization", "")
        return Answer.json({"detail": f"rejected credentials {echoed} for {request.path}"}, status)

    return answer


def html_echo(request: Request) -> Answer:
    title = f"Login for {request.headers.get('authorization', '')}"
    return Answer(
        200, f"<html><head><title>{title}</title></head></html>".encode(), {"Content-Type": "text/html"}
    )


@pytest.fixture
def sim(make_simulator: Callable[..., Simulator]) -> Simulator:
    return make_simulator(
        seed=21, shape="mixed", end=END, days=2, runs_per_day=150, experiment_runs_per_day=15, key=MARKER,
        faults="mild",
    )  # fmt: skip


@pytest.fixture
def echoing() -> Iterator[ScriptedApi]:
    with scripted_api(key="not-the-marker") as api:
        yield api


def test_the_key_leaks_nowhere_from_the_cli(
    sim: Simulator, echoing: ScriptedApi, tmp_path: Path, tally: Tally
) -> None:
    db = tmp_path / "warehouse" / "retab.duckdb"
    other_db = tmp_path / "other" / "retab.duckdb"
    outputs: list[str] = []
    with tally.case("secrets") as counted:
        env = cli_env(tmp_path, key=MARKER, base_url=sim.base_url, db=db)
        ok = run_cli(sync_args(DAYS[0], DAYS[-1]), env)
        outputs.append(ok.stdout + ok.stderr)
        assert ok.returncode == 0, ok.stderr
        for status, answer in (
            (401, echo_key(401)),
            (403, echo_key(403)),
            (400, echo_key(400)),
            (200, html_echo),
        ):
            echoing.answer = answer
            failing = cli_env(
                tmp_path,
                key=MARKER,
                base_url=echoing.base_url,
                db=other_db,
                extra={"PYTHONWARNINGS": "always"},
            )
            done = run_cli([*sync_args(DAYS[0], DAYS[0]), "--endpoint", "runs"], failing, timeout=180)
            outputs.append(done.stdout + done.stderr)
            # a refusal needs a fix first (2); HTML pages may be a proxy's passing fault (1)
            assert done.returncode == (EXIT_FAILED if status == 200 else EXIT_FIX_FIRST), (
                status,
                done.stderr,
            )
        received = [r.headers.get("authorization") for r in echoing.requests]
        assert f"Bearer {MARKER}" in received, (
            "the scripted servers never saw the key: the test proves nothing"
        )
        for base_url in (f"https://api.retab.com/?api_key={MARKER}", f"ftp://user:{MARKER}@api.retab.com"):
            bad = run_cli(
                sync_args(DAYS[0], DAYS[0]), cli_env(tmp_path, key=MARKER, base_url=base_url, db=other_db)
            )
            outputs.append(bad.stdout + bad.stderr)
            assert bad.returncode == 1
        leaks = [n for n, text in enumerate(outputs) if MARKER in "".join(text.split())]  # wrapping undone
        files = files_holding(tmp_path, MARKER)
        counted.lose(len(leaks) + len(files))
        assert not leaks, f"the key is printed by runs {leaks}: {[outputs[n][-600:] for n in leaks]}"
        assert not files, f"the key is in files: {files}"
        assert "[redacted]" in "".join(outputs), "the servers' echoes were not visibly redacted"


def test_the_key_leaks_nowhere_from_the_engine_logs_and_exceptions(
    sim: Simulator, echoing: ScriptedApi, tmp_path: Path, caplog: pytest.LogCaptureFixture, tally: Tally
) -> None:
    caplog.set_level(logging.DEBUG)
    with tally.case("secrets") as counted:
        settings = Settings(api_key=MARKER, base_url=sim.base_url, duckdb_path=tmp_path / "a.duckdb")
        report = sync(settings, parse_endpoints("all"), DAYS)
        assert report.ok
        echoing.answer = echo_key(503)
        failing = Settings(
            api_key=MARKER, base_url=echoing.base_url, duckdb_path=tmp_path / "b.duckdb", max_attempts=2
        )
        failed = sync(failing, parse_endpoints("all"), DAYS)
        texts = [caplog.text, repr(settings), repr(failing), *(str(p.error) for p in failed.partitions)]
        leaks = [text[:300] for text in texts if MARKER in "".join(text.split())]
        counted.lose(len(leaks))
        assert not failed.ok
        assert not leaks, leaks


def test_the_key_leaks_nowhere_from_a_dagster_materialization(
    sim: Simulator,
    echoing: ScriptedApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dagster_instance: dg.DagsterInstance,
    tally: Tally,
) -> None:
    from dagster._serdes import serialize_value

    from assets.definitions import defs
    from assets.partitions import range_tags
    from assets.retab import WORKFLOW_RUNS_KEY

    job = defs.resolve_job_def("retab_sync")
    monkeypatch.setenv("RETAB_API_KEY", MARKER)
    monkeypatch.setenv("RETAB_DUCKDB_PATH", str(tmp_path / "dagster-warehouse" / "retab.duckdb"))
    with tally.case("secrets") as counted:
        monkeypatch.setenv("RETAB_API_BASE_URL", sim.base_url)
        ok = job.execute_in_process(instance=dagster_instance, tags=range_tags(DAYS[0], DAYS[-1]))
        assert ok.success
        monkeypatch.setenv("RETAB_API_BASE_URL", echoing.base_url)
        echoing.answer = echo_key(401)
        monkeypatch.setenv("RETAB_DUCKDB_PATH", str(tmp_path / "dagster-other" / "retab.duckdb"))
        failed = job.execute_in_process(
            instance=dagster_instance,
            tags=range_tags(DAYS[0], DAYS[0]),
            asset_selection=[WORKFLOW_RUNS_KEY],
            raise_on_error=False,
        )
        assert not failed.success
        assert any(f"Bearer {MARKER}" == r.headers.get("authorization") for r in echoing.requests)
        events = [
            serialize_value(entry)
            for record in dagster_instance.get_run_records()
            for entry in dagster_instance.all_logs(record.dagster_run.run_id)
        ]
        runs = [serialize_value(record.dagster_run) for record in dagster_instance.get_run_records()]
        leaks = [text[:300] for text in events + runs if MARKER in text]
        files = files_holding(tmp_path, MARKER)
        counted.lose(len(leaks) + len(files))
        assert any("HTTP 401" in text for text in events), "the failure's text is not in the event log"
        assert not leaks, leaks
        assert not files, f"the key is in files: {files}"


PLAIN_HTTP = [
    "http://api.retab.com",
    "http://10.1.2.3:8000",
    "http://localhost.example.com",
    "http://127.0.0.1.nip.io",
    "HTTP://API.RETAB.COM/v1",
]


@pytest.mark.parametrize("base_url", PLAIN_HTTP)
def test_plain_http_to_a_host_that_is_not_loopback_is_refused_before_any_request(
    base_url: str, tmp_path: Path, tally: Tally
) -> None:
    with tally.case("secrets") as counted, scripted_api(key="proxy") as proxy:
        env = cli_env(
            tmp_path,
            key=MARKER,
            base_url=base_url,
            db=tmp_path / "retab.duckdb",
            extra={"HTTP_PROXY": proxy.base_url, "http_proxy": proxy.base_url, "ALL_PROXY": proxy.base_url},
        )
        done = run_cli(sync_args(date(2026, 5, 1), date(2026, 5, 1)), env)
        output = " ".join((done.stdout + done.stderr).split())
        counted.lose(len(proxy.requests))
        assert done.returncode == EXIT_FIX_FIRST, output
        assert "the API key would travel in clear text; use https" in output, output
        assert proxy.requests == [], "a request left for a plain-http host"
        assert MARKER not in "".join(output.split())
        assert not (tmp_path / "retab.duckdb").exists()
