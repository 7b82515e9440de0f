"""`make dev` for real: a headless `dagster dev` against the embedded simulator, driven like the UI drives it.

The dev command runs as a child process group (its simulator thread, then `dagster dev` and its
webserver, daemon and code server); the test loads the code location, launches a partition backfill
through the UI's GraphQL mutation, waits for the backfill daemon to finish it, and reads DuckDB.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sim_world import PROJECT_ROOT

from assets.dev import LOCATION_NAME
from pipelines.load.connections import open_reader

pytestmark = pytest.mark.slow

LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
LAUNCH_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on UnauthorizedError { message }
  }
}
"""
BACKFILL_STATUS = """
query Backfill($id: String!) { partitionBackfillOrError(backfillId: $id) {
    __typename ... on PartitionBackfill { status } ... on PythonError { message } } }
"""
BACKFILL_RUNS = """
query Runs($id: String!) { runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status tags { key value } } } } }
"""
MATERIALIZATIONS = """
query Materializations($key: AssetKeyInput!, $partitions: [String!]) { assetOrError(assetKey: $key) {
    ... on Asset { assetMaterializations(partitions: $partitions) {
        partition metadataEntries { label ... on IntMetadataEntry { intValue } } } } } }
"""
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


@dataclass
class DevServer:
    url: str
    warehouse: Path
    log: Path

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def wait_for(self, what: str, probe: Callable[[], Any], timeout: float) -> Any:
        """Poll `probe` until it returns something truthy; on timeout, fail with the server's log tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                found = probe()
            except requests.RequestException:
                found = None
            if found:
                return found
            time.sleep(1)
        tail = self.log.read_text(errors="replace")[-4000:]
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; dev log tail:\n{tail}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reset_signals() -> None:
    """pytest (or xdist) may have started us with SIGINT/SIGTERM ignored; the dev server must obey them."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we started, wait, then SIGKILL whatever is left of it."""
    group = process.pid  # start_new_session: the child leads its own group
    for sig, wait in ((signal.SIGTERM, 45.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            process.poll()
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[DevServer]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETAB_", "DAGSTER_"))}
    log = tmp_path / "dev.log"
    command = [sys.executable, "-m", "assets.dev", "--port", str(port), "--home", str(tmp_path / "home")]
    command += ["--warehouse", str(tmp_path / "dev.duckdb"), "--days", "3", "--runs-per-day", "60"]
    command += ["--experiment-runs-per-day", "6", "--faults", "none", "--no-seed"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_reset_signals,
        )
    try:
        yield DevServer(f"http://127.0.0.1:{port}", tmp_path / "dev.duckdb", log)
    finally:
        _stop_group(process)
        assert process.poll() is not None, "the dev server is gone"


def test_make_dev_loads_the_code_location_and_a_ui_backfill_fills_duckdb(dev_server: DevServer) -> None:
    def location_loaded() -> bool:
        entries = dev_server.graphql(LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
        entry = next((e for e in entries if e["name"] == LOCATION_NAME), None)
        if entry and entry["locationOrLoadError"]["__typename"] == "PythonError":
            raise AssertionError(f"code location failed to load: {entry['locationOrLoadError']['message']}")
        return bool(entry) and entry["loadStatus"] == "LOADED"

    dev_server.wait_for("the code location to load", location_loaded, timeout=120)
    assert f"Dagster UI  {dev_server.url}" in dev_server.log.read_text(), "the banner names the port in use"

    today = datetime.now(UTC).date()
    days = [str(today - timedelta(days=2)), str(today - timedelta(days=1))]
    keys = [{"path": ["retab", "workflow_runs"]}, {"path": ["retab", "experiment_runs"]}]
    launched = dev_server.graphql(
        LAUNCH_BACKFILL, backfillParams={"assetSelection": keys, "partitionNames": days}
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    def backfill_done() -> str | None:
        status = dev_server.graphql(BACKFILL_STATUS, id=backfill_id)["partitionBackfillOrError"]["status"]
        return status if status in TERMINAL else None

    status = dev_server.wait_for("the backfill to finish", backfill_done, timeout=180)
    runs = dev_server.graphql(BACKFILL_RUNS, id=backfill_id)["runsOrError"]["results"]
    assert status in {"COMPLETED", "COMPLETED_SUCCESS"}, (status, runs)
    assert len(runs) == 1 and runs[0]["status"] == "SUCCESS", "a range backfill is one run"
    tags = {tag["key"]: tag["value"] for tag in runs[0]["tags"]}
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == tuple(
        days
    )

    with open_reader(dev_server.warehouse) as con:
        for table, key in (("workflow_runs", keys[0]), ("experiment_runs", keys[1])):
            counts = dict(
                con.execute(
                    f"SELECT CAST(created_date AS VARCHAR), count(*) FROM retab.{table} GROUP BY 1"
                ).fetchall()
            )
            assert set(counts) == set(days) and all(counts.values()), (table, counts)
            events = dev_server.graphql(MATERIALIZATIONS, key=key, partitions=days)["assetOrError"]
            row_counts = {
                event["partition"]: next(
                    entry["intValue"]
                    for entry in event["metadataEntries"]
                    if entry["label"] == "dagster/row_count"
                )
                for event in events["assetMaterializations"]
            }
            assert row_counts == counts, "each partition's materialization carries that day's row count"
