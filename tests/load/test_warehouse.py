"""Opening the warehouse: bounded waits on DuckDB's file lock, clear errors for unusable paths."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from pipelines.errors import WarehouseLocked, WarehouseMissing, WarehouseUnreadable
from pipelines.load.connections import open_reader, open_writer, sql_literal
from pipelines.load.migrations import current_version, list_migrations


def open_and_close(opener, path: Path, **kwargs: object) -> None:
    """Open the warehouse with `opener` and close it again at once."""
    with opener(path, **kwargs):
        pass


class RecordedSleep:
    """A sleep that only records how long it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_open_writer_creates_the_directory_and_applies_the_schema(warehouse_path: Path) -> None:
    assert not warehouse_path.parent.exists()
    with open_writer(warehouse_path) as con:
        assert current_version(con) == list_migrations()[-1].version
        con.execute("SELECT count(*) FROM retab.workflow_runs").fetchall()
    assert warehouse_path.is_file()


def test_a_file_named_like_the_schema_works(tmp_path: Path) -> None:
    # DuckDB names a directly opened file's catalog after its stem: retab.duckdb vs schema retab.
    path = tmp_path / "retab.duckdb"
    with open_writer(path) as con:
        con.execute(
            "INSERT INTO retab.rejected_records VALUES ('runs', DATE '2026-05-01', NULL, 'r', '{}', now())"
        )
    with open_reader(path) as con:
        assert con.execute("SELECT count(*) FROM retab.rejected_records").fetchone() == (1,)


def test_the_writer_is_closed_when_the_block_raises(migrated_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), open_writer(migrated_path) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "INSERT INTO retab.rejected_records VALUES ('runs', DATE '2026-05-01', NULL, 'r', '{}', now())"
        )
        raise RuntimeError("boom")
    # Closed: another (plain) connection in this process may now take the file, and sees no partial write.
    con = duckdb.connect()
    con.execute(f"ATTACH {sql_literal(migrated_path)} AS w (READ_ONLY)")
    assert con.execute("SELECT count(*) FROM w.retab.rejected_records").fetchone() == (0,)
    con.close()


@pytest.mark.parametrize("holder_mode", ["read_only", "read_write"], ids=["reader-holds", "writer-holds"])
def test_open_writer_waits_then_names_the_locked_file(
    migrated_path: Path, hold_file, holder_mode: str
) -> None:
    holder = hold_file(migrated_path, holder_mode)
    sleep = RecordedSleep()
    with pytest.raises(WarehouseLocked) as caught, open_writer(migrated_path, lock_wait=3.0, sleep=sleep):
        pass
    message = str(caught.value)
    assert str(migrated_path) in message
    assert f"process {holder.pid}" in message
    assert "one writer or many readers" in message
    assert "close your DuckDB session" in message and "wait for the running sync" in message
    assert "Waited 3.0s" in message
    # the waits add up to the lock wait, less whatever time the failed attempts took themselves
    assert 2.5 <= sum(sleep.calls) <= 3.0 + 1e-9
    assert sleep.calls[:3] == [0.05, 0.1, 0.2], "exponential backoff"
    assert max(sleep.calls) <= 2.0


def test_open_writer_gets_in_when_the_holder_lets_go_in_time(migrated_path: Path, hold_file) -> None:
    hold_file(migrated_path, "read_only", seconds=1.0)
    began = time.monotonic()
    with open_writer(migrated_path, lock_wait=20.0) as con:
        con.execute("SELECT 1").fetchall()
    assert 0.5 < time.monotonic() - began < 15


def test_open_reader_waits_for_a_writer_then_names_the_file(migrated_path: Path, hold_file) -> None:
    holder = hold_file(migrated_path, "read_write")
    sleep = RecordedSleep()
    with pytest.raises(WarehouseLocked, match=f"process {holder.pid}") as caught:
        open_and_close(open_reader, migrated_path, lock_wait=1.0, sleep=sleep)
    assert str(migrated_path) in str(caught.value)
    assert 0.5 <= sum(sleep.calls) <= 1.0 + 1e-9  # less whatever time the failed attempts took


def test_readers_share_the_file_with_another_reader(migrated_path: Path, hold_file) -> None:
    hold_file(migrated_path, "read_only")
    with open_reader(migrated_path, lock_wait=0.0) as con:
        assert con.execute("SELECT count(*) FROM retab.sync_log").fetchone() == (0,)


def test_a_reader_in_the_writing_process_gets_a_clear_message(migrated_path: Path) -> None:
    with open_writer(migrated_path), pytest.raises(WarehouseLocked, match="this same process"):
        open_and_close(open_reader, migrated_path, lock_wait=0.2, sleep=RecordedSleep())


def test_writer_threads_of_one_process_take_turns(migrated_path: Path) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with open_writer(migrated_path, lock_wait=30.0) as con:
                con.execute(
                    "INSERT INTO retab.rejected_records "
                    "VALUES ('runs', DATE '2026-05-01', ?, 'r', '{}', now())",
                    [str(n)],
                )
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with open_reader(migrated_path) as con:
        assert con.execute("SELECT count(*) FROM retab.rejected_records").fetchone() == (4,)


def test_a_nested_writer_in_one_thread_fails_at_once(migrated_path: Path) -> None:
    sleep = RecordedSleep()
    with open_writer(migrated_path), pytest.raises(WarehouseLocked, match="already has a writer open"):
        open_and_close(open_writer, migrated_path, sleep=sleep)
    assert sleep.calls == []
    open_and_close(open_writer, migrated_path)  # released


def test_open_reader_on_a_missing_file_says_to_sync_first(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "retab.duckdb"
    with pytest.raises(WarehouseMissing, match="run `retab-warehouse sync` first") as caught:
        open_and_close(open_reader, path)
    assert str(path) in str(caught.value)
    assert not path.parent.exists(), "a reader creates nothing"


@pytest.mark.parametrize("opener", [open_writer, open_reader], ids=["writer", "reader"])
@pytest.mark.parametrize("content", [b"", b"SQLite format 3\x00" + b"\x00" * 5000], ids=["empty", "sqlite"])
def test_a_file_that_is_not_duckdb_is_unreadable(tmp_path: Path, opener, content: bytes) -> None:
    path = tmp_path / "retab.duckdb"
    path.write_bytes(content)
    with pytest.raises(WarehouseUnreadable, match="not a DuckDB database file") as caught, opener(path):
        pass
    assert str(path) in str(caught.value) and "RETAB_DUCKDB_PATH" in str(caught.value)
    assert path.read_bytes() == content, "the file is left alone"


def test_a_corrupted_warehouse_is_unreadable(migrated_path: Path) -> None:
    with open_writer(migrated_path) as con:
        con.execute(
            "CREATE TABLE retab.filler AS SELECT range AS n, repeat('x', 200) AS s FROM range(100000)"
        )
    data = bytearray(migrated_path.read_bytes())
    data[4096:12288] = os.urandom(8192)  # both database headers
    migrated_path.write_bytes(bytes(data))
    with pytest.raises(WarehouseUnreadable, match="or it is corrupted"):
        open_and_close(open_writer, migrated_path)


@pytest.mark.parametrize("opener", [open_writer, open_reader], ids=["writer", "reader"])
def test_a_directory_path_is_unreadable(tmp_path: Path, opener) -> None:
    with pytest.raises(WarehouseUnreadable, match="is a directory"), opener(tmp_path):
        pass


def test_a_path_below_a_regular_file_is_unreadable(tmp_path: Path) -> None:
    blocker = tmp_path / "warehouse"
    blocker.write_text("not a directory")
    with pytest.raises(WarehouseUnreadable, match="parent that is a regular file"):
        open_and_close(open_writer, blocker / "retab.duckdb")


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody can create files in: chmod for a normal user, the immutable flag for root."""
    directory = tmp_path / "locked"
    directory.mkdir()
    if os.geteuid() != 0:
        directory.chmod(0o555)
        yield directory
        directory.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    assert chattr, "running as root, the test needs chattr to make a directory unwritable"
    subprocess.run([chattr, "+i", str(directory)], check=True)
    try:
        yield directory
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)


def test_an_unwritable_directory_is_reported_before_duckdb_tries(unwritable_dir: Path) -> None:
    with pytest.raises(WarehouseUnreadable, match="cannot be written") as caught:
        open_and_close(open_writer, unwritable_dir / "retab.duckdb")
    assert "RETAB_DUCKDB_PATH" in str(caught.value)
    assert list(unwritable_dir.iterdir()) == []


def _raw_compression(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT DISTINCT compression FROM pragma_storage_info('retab.workflow_runs') "
        "WHERE column_name = 'raw' AND segment_type = 'VARCHAR'"
    ).fetchall()
    return {row[0] for row in rows}


def _fill_raw(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "INSERT INTO retab.rejected_records SELECT 'runs', DATE '2026-05-01', 'r' || i, 'test', "
        "'{\"id\": \"r' || i || '\", \"notes\": \"' || repeat('lorem ipsum ', 40) || '\"}', now() "
        "FROM range(20000) t(i)"
    )
    con.execute(
        "INSERT INTO retab.workflow_runs (id, created_at, created_date, synced_at, raw) SELECT 'run_' || i, "
        "TIMESTAMPTZ '2026-05-01 10:00:00+00', DATE '2026-05-01', now(), "
        "'{\"id\": \"run_' || i || '\", \"notes\": \"' || repeat('lorem ipsum ', 40) || '\"}' "
        "FROM range(20000) t(i)"
    )
    con.execute("CHECKPOINT")


def test_a_new_warehouse_stores_raw_with_zstd(warehouse_path: Path) -> None:
    # duckdb 1.5 writes storage v1.0.0 by default, where USING COMPRESSION zstd silently stores raw
    # uncompressed (a 1M-run day: 530 MB instead of 77 MB).
    with open_writer(warehouse_path) as con:
        _fill_raw(con)
        assert _raw_compression(con) == {"ZSTD"}
    with open_reader(warehouse_path) as con:
        tags = con.execute("SELECT tags FROM duckdb_databases() WHERE database_name = 'warehouse'").fetchone()
        assert tags is not None and tags[0]["storage_version"].startswith("v1.4.0")


def test_a_writer_upgrades_a_file_of_the_default_storage_version(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with open_writer(path):
        pass
    old = duckdb.connect()  # rewrite it as duckdb 1.5's default (v1.0.0) would have made it
    old.execute(f"ATTACH {sql_literal(path)} AS src (READ_ONLY)")
    old.execute(f"ATTACH {sql_literal(tmp_path / 'v10.duckdb')} AS dst (STORAGE_VERSION 'v1.0.0')")
    old.execute("COPY FROM DATABASE src TO dst")
    old.close()
    with open_writer(tmp_path / "v10.duckdb") as con:
        _fill_raw(con)
        assert _raw_compression(con) == {"ZSTD"}
        assert con.execute("SELECT count(*) FROM retab.workflow_runs").fetchone() == (20000,)


def test_pyarrow_builds_arrays_after_a_warehouse_is_opened_without_pandas(migrated_path: Path) -> None:
    # pyarrow asks for pandas (through Cython's import) the first time it converts a Python list: a
    # warehouse that marked pandas absent with `sys.modules["pandas"] = None` made that conversion
    # fail (AttributeError) in every later caller of the process.
    code = (
        "import sys, pathlib, pyarrow as pa\n"
        "from pipelines.load.connections import open_writer\n"
        "with open_writer(pathlib.Path(sys.argv[1])) as con:\n"
        "    con.execute('SELECT count(*) FROM retab.sync_log WHERE endpoint = ?', ['runs']).fetchall()\n"
        "print(pa.array([1, 2]).to_pylist(), pa.table({'a': ['x']}).num_rows)\n"
        "try:\n"
        "    import pandas\n"
        "except ImportError:\n"
        "    print('no pandas')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(migrated_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[1, 2] 1", "no pandas"]
