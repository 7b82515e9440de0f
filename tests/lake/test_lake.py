"""The DuckLake backend against a real PostgreSQL: what only a lake promises (readers never block a
writer, concurrent writers both commit, a conflict retried), its errors, and its secrets.

The sync-equals-the-API tests that run on both backends are in tests/sync (the `warehouse` fixture).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from postgres_cluster import PostgresCluster
from warehouses import dicts, env, make_warehouse, rows

import pipelines.load.partitions as partitions
from pipelines.config import DuckLake, Settings, describe, warehouse_target
from pipelines.errors import EXIT_FAILED, EXIT_FIX_FIRST, BadWarehouseTarget, LakeConflict
from pipelines.load.connections import open_reader, open_writer
from pipelines.load.lake import retry_conflicts
from pipelines.sync.orchestrator import parse_endpoints, sync
from retab_sim import SimConfig, run_simulator

REPO = Path(__file__).resolve().parents[2]
DAY = date(2026, 5, 10)
TABLES = {"runs": "workflow_runs", "experiment-runs": "experiment_runs"}


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


@pytest.fixture
def lake(postgres: PostgresCluster, tmp_path: Path) -> DuckLake:
    made = make_warehouse("lake", tmp_path, postgres)
    assert isinstance(made, DuckLake)
    return made


def differences(db, sim, days, endpoints=tuple(TABLES)) -> dict[str, int]:
    """Rows missing, extra, duplicated or stale against the API, over the days (empty: equal)."""
    out: dict[str, int] = {}
    for endpoint in endpoints:
        for day in days:
            held = rows(db, f"SELECT id, status FROM retab.{TABLES[endpoint]} WHERE created_date = ?", [day])
            as_dict, truth = dict(held), sim.truth_ids(endpoint, day)
            counts = {
                "duplicated": len(held) - len(as_dict),
                "missing": len(truth.keys() - as_dict.keys()),
                "extra": len(as_dict.keys() - truth.keys()),
                "stale": sum(1 for i in truth.keys() & as_dict.keys() if truth[i] != as_dict[i]),
            }
            for k, v in counts.items():
                if v:
                    out[k] = out.get(k, 0) + v
    return out


def cli(args: list[str], warehouse, sim, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """`python -m pipelines.cli ARGS` against the simulator and the warehouse, output captured."""
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME")}
    child = {**keep, **env(warehouse), "RETAB_API_KEY": sim.key, "RETAB_API_BASE_URL": sim.base_url,
             "TMPDIR": str(scratch), "COLUMNS": "200", **extra}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=child, cwd=str(REPO),
                          capture_output=True, text=True, timeout=240, check=False)  # fmt: skip


# --- the target -----------------------------------------------------------------------------


def test_a_lake_uri_is_a_lake_and_a_path_stays_a_path() -> None:
    env_ = {"RETAB_DUCKLAKE_DATA_PATH": "/srv/lake"}
    target = warehouse_target("ducklake:postgres:dbname=lake host=db user=retab password=pw1234", env_)
    assert isinstance(target, DuckLake) and target.data_path == "/srv/lake"
    assert target.libpq == "dbname=lake host=db user=retab password=pw1234"
    assert warehouse_target("warehouse/w.duckdb", env_) == Path("warehouse/w.duckdb")


@pytest.mark.parametrize(
    "uri",
    [
        "ducklake:postgres:dbname=lake host=db user=retab password=Se-cret'9",
        "ducklake:postgres:dbname=lake host=db user=retab password='Se-cret 9'",
        "ducklake:postgres:postgresql://retab:Se-cret9@db:5432/lake",
    ],
    ids=["libpq", "libpq-quoted", "url"],
)
def test_the_catalog_password_and_s3_keys_are_never_shown(uri: str) -> None:
    secrets_env = {"AWS_ACCESS_KEY_ID": "AKIAMARKER123", "AWS_SECRET_ACCESS_KEY": "s3-secret-marker"}
    target = warehouse_target(uri, {"RETAB_DUCKLAKE_DATA_PATH": "s3://bucket/lake", **secrets_env})
    assert isinstance(target, DuckLake)
    shown = [str(target), repr(target), describe(target), repr(Settings(duckdb_path=target))]
    shown.append(target.redact(f"error at {uri}: key AKIAMARKER123 secret s3-secret-marker"))
    for text in shown:
        assert "Se-cret" not in text and "AKIAMARKER123" not in text and "s3-secret-marker" not in text, text
    assert "***" in target.display


@pytest.mark.parametrize(
    "uri", ["ducklake:sqlite:meta.sqlite", "ducklake:meta.ducklake", "ducklake:postgres:", "md:my_db"]
)
def test_a_lake_this_version_cannot_use_is_refused_with_advice(uri: str) -> None:
    with pytest.raises(BadWarehouseTarget, match="ducklake:postgres:dbname=") as caught:
        warehouse_target(uri, {})
    assert caught.value.exit_code == EXIT_FIX_FIRST


# --- migrations, views, sql, report ---------------------------------------------------------


def test_the_lake_is_migrated_partitioned_by_day_and_serves_views_sql_and_report(
    lake: DuckLake, tmp_path: Path
) -> None:
    config = SimConfig(seed=41, end=DAY, days=2, runs_per_day=300, experiment_runs_per_day=40)
    with run_simulator(config) as sim:
        done = cli(["sync", "--start", str(DAY - timedelta(days=1)), "--end", str(DAY), "--quiet"],
                   lake, sim, tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert differences(lake, sim, [DAY - timedelta(days=1), DAY]) == {}
        query = cli(["sql", "SELECT sum(runs) AS runs FROM analytics.workflow_daily_health", "--format",
                     "csv"], lake, sim, tmp_path)  # fmt: skip
        assert query.returncode == 0, query.stderr
        assert int(query.stdout.split()[-1]) == 600
        report = cli(["report", "--days", "400"], lake, sim, tmp_path)
        assert report.returncode == 0, report.stderr
        assert "workflow" in report.stdout.lower()
    versions = [v for (v,) in rows(lake, "SELECT version FROM retab.schema_version ORDER BY 1")]
    assert versions == [1, 2, 3]
    day_folders = {p.name for p in Path(lake.data_path or "").rglob("created_date=*") if p.is_dir()}
    assert {f"created_date={DAY}", f"created_date={DAY - timedelta(days=1)}"} <= day_folders


# --- readers and writers at once -------------------------------------------------------------


def test_a_reader_holding_a_snapshot_for_a_whole_sync_blocks_nothing(lake: DuckLake, tmp_path: Path) -> None:
    config = SimConfig(seed=42, end=DAY, days=2, runs_per_day=2_000, experiment_runs_per_day=100)
    first, second = DAY - timedelta(days=1), DAY
    with run_simulator(config) as sim:
        assert cli(["sync", "--start", str(first), "--end", str(first), "--quiet"], lake, sim,
                   tmp_path).returncode == 0  # fmt: skip
        with open_reader(lake) as reader:
            reader.execute("BEGIN TRANSACTION")
            before = reader.execute("SELECT count(*) FROM retab.workflow_runs").fetchone()
            done = cli(["sync", "--start", str(first), "--end", str(second), "--quiet"], lake, sim, tmp_path)
            assert done.returncode == 0, done.stderr  # committed while the reader held its snapshot
            during = reader.execute("SELECT count(*) FROM retab.workflow_runs").fetchone()
            reader.execute("COMMIT")
            after = reader.execute("SELECT count(*) FROM retab.workflow_runs").fetchone()
        assert before == during == (2_000,), "the reader's snapshot did not move under it"
        assert after == (4_000,)
        assert differences(lake, sim, [first, second]) == {}


def interleaved_syncs(lake: DuckLake, sim, day_x: date, day_y: date) -> tuple[list, int]:
    """Sync day_x and day_y in two threads so that X's load transaction is open while Y's whole sync
    commits; X then commits into a lake that moved. Returns both reports and X's load attempts."""
    x_inside, y_done = threading.Event(), threading.Event()
    calls = {"x": 0}
    original = partitions._write_sync_ok

    def write_ok(con, entry, finished_at):
        if threading.current_thread().name == "sync-x":
            calls["x"] += 1
            if calls["x"] == 1:
                x_inside.set()
                assert y_done.wait(120), "the other sync did not finish"
        return original(con, entry, finished_at)

    reports: dict[str, object] = {}

    def run(name: str, day: date) -> None:
        settings = Settings(api_key=sim.key, base_url=sim.base_url, duckdb_path=lake, concurrency=2)
        reports[name] = sync(settings, parse_endpoints("runs"), [day], today=DAY + timedelta(days=1))

    partitions._write_sync_ok = write_ok  # type: ignore[assignment]
    try:
        x = threading.Thread(target=run, args=("x", day_x), name="sync-x")
        x.start()
        assert x_inside.wait(120), "sync X never reached its commit"
        run("y", day_y)
        y_done.set()
        x.join(180)
        assert not x.is_alive()
    finally:
        partitions._write_sync_ok = original  # type: ignore[assignment]
    return [reports["x"], reports["y"]], calls["x"]


@pytest.mark.parametrize("same_day", [False, True], ids=["different-days", "same-day"])
def test_two_syncs_at_once_both_commit_the_second_after_a_retry(lake: DuckLake, same_day: bool) -> None:
    config = SimConfig(seed=43, end=DAY, days=2, runs_per_day=1_500, experiment_runs_per_day=0)
    day_x = DAY
    day_y = DAY if same_day else DAY - timedelta(days=1)
    with run_simulator(config) as sim:
        with open_writer(lake):
            pass  # a migrated lake, so that both syncs start from the same schema
        reports, attempts = interleaved_syncs(lake, sim, day_x, day_y)
        for report in reports:
            assert report.ok, [(p.day, p.error) for p in report.failed]
        assert attempts == 2, "X's first commit met Y's and was run again whole"
        assert differences(lake, sim, sorted({day_x, day_y}), ["runs"]) == {}
    log = dicts(lake, "SELECT day, outcome FROM retab.sync_log ORDER BY started_at")
    assert [r["outcome"] for r in log] == ["ok", "ok"]


def test_a_conflict_that_outlives_the_retries_fails_that_day_only() -> None:
    import duckdb

    pauses: list[float] = []

    def always_conflicting() -> None:
        raise duckdb.TransactionException("Transaction conflict - attempting to insert into table ...")

    with pytest.raises(LakeConflict, match="runs 2026-05-10") as caught:
        retry_conflicts(always_conflicting, what="runs 2026-05-10", attempts=4, sleep=pauses.append)
    assert len(pauses) == 3 and pauses == sorted(pauses)  # backoff grows
    assert caught.value.retryable and not caught.value.stops_endpoint
    calls = []
    with pytest.raises(duckdb.CatalogException):  # any other error is not retried
        retry_conflicts(lambda: calls.append(1) or (_ for _ in ()).throw(duckdb.CatalogException("x")),
                        what="d", sleep=pauses.append)  # fmt: skip
    assert calls == [1]


# --- errors and secrets -------------------------------------------------------------------------


@pytest.fixture
def password_role(postgres: PostgresCluster) -> Iterator[tuple[str, str]]:
    """A PostgreSQL role with a password (the cluster trusts loopback, so any password is accepted:
    the point is that it travels in the URI)."""
    password = f"pg-secret-{uuid.uuid4().hex[:12]}"
    yield "postgres", password


def test_the_catalog_password_and_s3_key_leak_nowhere(
    postgres: PostgresCluster, password_role: tuple[str, str], tmp_path: Path
) -> None:
    user, password = password_role
    database = postgres.create_database("secret")
    data = tmp_path / "lake-data"
    data.mkdir()
    uri = f"ducklake:postgres:{postgres.libpq(database)} password={password}"
    lake = DuckLake(uri, str(data))
    s3 = {
        "AWS_ACCESS_KEY_ID": f"AKIA{uuid.uuid4().hex[:12].upper()}",
        "AWS_SECRET_ACCESS_KEY": password[::-1],
    }
    config = SimConfig(seed=44, end=DAY, days=1, runs_per_day=200, experiment_runs_per_day=20)
    outputs = []
    with run_simulator(config) as sim:
        ok = cli(["sync", "--start", str(DAY), "--end", str(DAY)], lake, sim, tmp_path, **s3)
        assert ok.returncode == 0, ok.stderr
        outputs.append(ok.stdout + ok.stderr)
        down = DuckLake(f"ducklake:postgres:dbname={database} host=127.0.0.1 port=1 user={user} "
                        f"password={password}", str(data))  # fmt: skip
        failed = cli(["sync", "--start", str(DAY), "--end", str(DAY)], down, sim, tmp_path, **s3)
        assert failed.returncode == EXIT_FAILED, failed.stderr  # retryable: PostgreSQL may come back
        assert "does not answer" in failed.stderr and "Traceback" not in failed.stderr
        outputs.append(failed.stdout + failed.stderr)
        query = cli(["sql", "SELECT count(*) FROM retab.workflow_runs"], down, sim, tmp_path, **s3)
        assert query.returncode == EXIT_FAILED and "does not answer" in query.stderr
        outputs.append(query.stdout + query.stderr)
    for secret in (password, *s3.values()):
        assert not [o for o in outputs if secret in o]
        held = [f for f in tmp_path.rglob("*") if f.is_file() and secret.encode() in f.read_bytes()]
        assert held == []
        dump = subprocess.run([str(postgres.bin_dir / "pg_dump"), "-h", postgres.host, "-p",
                               str(postgres.port), "-U", postgres.user, database],
                              capture_output=True, timeout=60, check=True)  # fmt: skip
        assert b"workflow_runs" in dump.stdout and secret.encode() not in dump.stdout
    sources = rows(lake, "SELECT DISTINCT source, error FROM retab.sync_log")
    assert sources and not [s for s in sources if password in str(s)]


def test_a_new_lake_without_a_data_path_and_a_missing_database_say_what_to_do(
    postgres: PostgresCluster, tmp_path: Path
) -> None:
    config = SimConfig(seed=45, end=DAY, days=1, runs_per_day=20, experiment_runs_per_day=0)
    new = DuckLake(f"ducklake:postgres:{postgres.libpq(postgres.create_database('nodata'))}", None)
    missing = DuckLake(f"ducklake:postgres:{postgres.libpq('no_such_db')}", str(tmp_path))
    with run_simulator(config) as sim:
        no_data = cli(["sync", "--start", str(DAY), "--end", str(DAY), "--quiet"], new, sim, tmp_path)
        assert (
            no_data.returncode == EXIT_FIX_FIRST and "RETAB_DUCKLAKE_DATA_PATH is not set" in no_data.stderr
        )
        no_db = cli(["sync", "--start", str(DAY), "--end", str(DAY), "--quiet"], missing, sim, tmp_path)
        assert no_db.returncode == EXIT_FIX_FIRST and "createdb" in no_db.stderr
        never_synced = cli(["sql", "SELECT 1"], new, sim, tmp_path)
        assert never_synced.returncode == EXIT_FAILED and "does not exist yet" in never_synced.stderr
        bad = cli(["sql", "SELECT 1"], new, sim, tmp_path, RETAB_DUCKDB_PATH="ducklake:sqlite:x.db")
        assert bad.returncode == EXIT_FIX_FIRST and "ducklake:postgres:dbname=" in bad.stderr
    for done in (no_data, no_db, never_synced, bad):
        assert "Traceback" not in done.stderr


# --- migrate --to, and a file from a newer DuckDB -------------------------------------------------


def test_migrate_copies_a_file_into_a_lake_with_every_count_checked(
    lake: DuckLake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SimConfig(seed=46, end=DAY, days=2, runs_per_day=700, experiment_runs_per_day=90)
    source = tmp_path / "w.duckdb"
    days = [DAY - timedelta(days=1), DAY]
    with run_simulator(config) as sim:
        done = cli(["sync", "--start", str(days[0]), "--end", str(days[1]), "--quiet"], source, sim, tmp_path)
        assert done.returncode == 0, done.stderr
        moved = cli(["migrate", "--to", lake.uri, "--db", str(source)], source, sim, tmp_path,
                    RETAB_DUCKLAKE_DATA_PATH=lake.data_path or "")  # fmt: skip
        assert moved.returncode == 0, moved.stderr
        assert "workflow_runs" in moved.stdout and "1,400" in moved.stdout
        assert differences(lake, sim, days) == {}
        again = cli(["migrate", "--to", lake.uri, "--db", str(source)], source, sim, tmp_path)
        assert again.returncode == EXIT_FIX_FIRST and "already holds data" in again.stderr
        # the lake goes on from where the file was: its sync_log came along, and a sync writes into it
        sim.delete("runs", sorted(sim.truth_ids("runs", DAY))[0])
        resync = cli(["sync", "--start", str(DAY), "--end", str(DAY), "--quiet"], lake, sim, tmp_path)
        assert resync.returncode == 0, resync.stderr
        assert differences(lake, sim, days) == {}
    for table in ("experiment_runs", "rejected_records"):  # untouched by the re-sync of runs
        assert rows(lake, f"SELECT count(*) FROM retab.{table}") == rows(
            source, f"SELECT count(*) FROM retab.{table}"
        )
    assert (
        len(rows(lake, "SELECT * FROM retab.sync_log"))
        == len(rows(source, "SELECT * FROM retab.sync_log")) + 2
    )
    assert rows(lake, "SELECT count(*) FROM analytics.workflow_daily_health")[0][0] > 0


def newer_duckdb_file(path: Path) -> Path:
    """A warehouse file whose header says storage version 999, as duckdb 2.0.1 writes (checksum fixed)."""
    import struct

    import duckdb

    duckdb.connect(str(path)).execute("CREATE TABLE t (i INTEGER)").close()
    with path.open("r+b") as f:
        header = bytearray(f.read(4096))
        struct.pack_into("<Q", header, 12, 999)  # after the checksum (8 bytes) and "DUCK"
        checksum = 5381
        for (word,) in struct.iter_unpack("<Q", bytes(header[8:])):
            checksum ^= (word * 0xBF58476D1CE4E5B9) & (2**64 - 1)
        struct.pack_into("<Q", header, 0, checksum)
        f.seek(0)
        f.write(header)
    return path


@pytest.mark.parametrize("command", ["sync", "sql", "report", "migrate"])
def test_a_file_from_a_newer_duckdb_is_refused_with_how_to_rebuild_it(
    command: str, lake: DuckLake, tmp_path: Path
) -> None:
    newer = newer_duckdb_file(tmp_path / "newer.duckdb")
    args = {
        "sync": ["sync", "--start", str(DAY), "--end", str(DAY), "--quiet", "--db", str(newer)],
        "sql": ["sql", "SELECT 1", "--db", str(newer)],
        "report": ["report", "--db", str(newer)],
        "migrate": ["migrate", "--to", lake.uri, "--db", str(newer)],
    }[command]
    config = SimConfig(seed=47, end=DAY, days=1, runs_per_day=10, experiment_runs_per_day=0)
    with run_simulator(config) as sim:
        done = cli(args, newer, sim, tmp_path, RETAB_DUCKLAKE_DATA_PATH=lake.data_path or "")
    assert done.returncode in (EXIT_FAILED, EXIT_FIX_FIRST) and "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    assert "written by a newer DuckDB" in message
    assert f"retab-warehouse sync --start FIRST_DAY --db {newer}" in message
    assert newer.read_bytes()[12:14] == (999).to_bytes(2, "little"), "the file is left as it was"
