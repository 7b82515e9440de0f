"""Bad warehouse paths, full disks and bad command lines: the real CLI in a child process.

Each case starts from a warehouse synced from a scripted loopback API, then runs
`python -m pipelines.cli sync` against a damaged file, a path that cannot be written, a disk with
no room, or a wrong command line. The exit code, the message (what is wrong, what to do) and
the file are checked: byte for byte when the sync must not touch it, content-equal otherwise.

Read-only and full file systems are real mounts in a user and mount namespace
(`unshare --map-root-user --mount`, no privilege needed) when the kernel allows it; the full
disk is also produced with RLIMIT_FSIZE, which works everywhere.
"""

from __future__ import annotations

import hashlib
import resource
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date
from functools import cache
from pathlib import Path

import pytest

from pipelines.config import Settings
from pipelines.errors import EXIT_FIX_FIRST
from pipelines.sync.orchestrator import parse_endpoints, sync
from reliability.scripted_api import (
    EXPERIMENT_RUNS_PATH,
    RUNS_PATH,
    ScriptedApi,
    experiment_record,
    run_record,
    scripted_api,
)
from reliability.summary import Tally
from reliability.world import REPO, changed_rows, cli_env, data_snapshot, run_cli, sync_args

DAY = date(2026, 5, 1)
KEY = "sk-scripted-key"
CORRUPT = "is not a DuckDB database file, or it is corrupted"
MOVE_ASIDE = "move it aside (a sync rebuilds the warehouse from the API)"


def flat(text: str) -> str:
    return " ".join(text.split())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def api() -> Iterator[ScriptedApi]:
    """One honest day: 230 workflow runs (3 pages) and 30 experiment runs."""
    with scripted_api(KEY) as served:
        served.records[RUNS_PATH][DAY] = [run_record(f"run_{n:04d}", DAY) for n in range(230)]
        served.records[EXPERIMENT_RUNS_PATH][DAY] = [
            experiment_record(f"exprun_{n:03d}", DAY) for n in range(30)
        ]
        yield served


@pytest.fixture
def seeded(api: ScriptedApi, tmp_path: Path) -> Path:
    """A warehouse file synced from `api`, at tmp_path/seed/retab.duckdb."""
    path = tmp_path / "seed" / "retab.duckdb"
    assert sync(
        Settings(api_key=KEY, base_url=api.base_url, duckdb_path=path), parse_endpoints("all"), [DAY]
    ).ok
    return path


def cli(api: ScriptedApi, tmp_path: Path, db: Path, *args: str, **kwargs: object) -> tuple[int, str]:
    env = cli_env(tmp_path, key=KEY, base_url=api.base_url, db=db)
    done = run_cli(list(args) or sync_args(DAY, DAY), env, **kwargs)  # type: ignore[arg-type]
    return done.returncode, flat(done.stdout + done.stderr)


def text_file(path: Path, seed: Path) -> None:
    path.write_text("hello, this is not a database\n")


def sqlite_file(path: Path, seed: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE workflow_runs (id TEXT)")
    con.commit()
    con.close()


def truncated_warehouse(path: Path, seed: Path) -> None:
    data = seed.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def damaged_blocks(path: Path, seed: Path) -> None:
    data = bytearray(seed.read_bytes())
    for block in range(8192, len(data), 8192):  # bytes flipped in every block after the headers
        for offset in range(block, min(block + 64, len(data))):
            data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


DAMAGES: list[tuple[str, Callable[[Path, Path], None]]] = [
    ("text file", text_file),
    ("SQLite file", sqlite_file),
    ("truncated warehouse", truncated_warehouse),
    ("damaged blocks", damaged_blocks),
]


@pytest.mark.parametrize("damage", [d for _, d in DAMAGES], ids=[name for name, _ in DAMAGES])
def test_a_damaged_file_is_refused_clearly_and_left_as_it_is(
    damage: Callable[[Path, Path], None], api: ScriptedApi, seeded: Path, tmp_path: Path, tally: Tally
) -> None:
    with tally.case("bad input") as counted:
        path = tmp_path / "damaged" / "retab.duckdb"
        path.parent.mkdir()
        damage(path, seeded)
        before = digest(path)
        code, output = cli(api, tmp_path, path)
        unchanged = digest(path) == before
        counted.lose(0 if unchanged else 1)
        assert code == EXIT_FIX_FIRST, output
        assert CORRUPT in output and MOVE_ASIDE in output, output
        assert "Traceback" not in output
        assert unchanged, "the damaged file was modified"
        assert sorted(p.name for p in path.parent.iterdir()) == ["retab.duckdb"], (
            "files were created beside it"
        )


def test_a_directory_at_the_warehouse_path_is_refused(api: ScriptedApi, tmp_path: Path, tally: Tally) -> None:
    with tally.case("bad input"):
        path = tmp_path / "retab.duckdb"
        path.mkdir()
        code, output = cli(api, tmp_path, path)
        assert code == EXIT_FIX_FIRST
        assert "is a directory, not a file" in output and "set RETAB_DUCKDB_PATH to a file path" in output, (
            output
        )
        assert list(path.iterdir()) == []


def test_a_path_under_a_regular_file_is_refused(api: ScriptedApi, tmp_path: Path, tally: Tally) -> None:
    with tally.case("bad input"):
        parent = tmp_path / "notes.txt"
        parent.write_text("a file, not a folder\n")
        code, output = cli(api, tmp_path, parent / "retab.duckdb")
        assert code == EXIT_FIX_FIRST
        assert "has a parent that is a regular file, not a directory" in output, output
        assert "set RETAB_DUCKDB_PATH to a path inside a directory" in output
        assert parent.read_text() == "a file, not a folder\n"


@cache
def namespaces_available() -> bool:
    """Whether this kernel lets an unprivileged process mount in its own user and mount namespace."""
    try:
        done = subprocess.run(
            ["unshare", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def cli_in_namespace(
    api: ScriptedApi, tmp_path: Path, db: Path, setup: str, *, timeout: float = 120
) -> tuple[int, str]:
    """The CLI sync in a user + mount namespace after a shell `setup`; its exit code and output."""
    env = cli_env(tmp_path, key=KEY, base_url=api.base_url, db=db)
    command = " ".join([sys.executable, "-m", "pipelines.cli", *sync_args(DAY, DAY, "--endpoint", "runs")])
    script = f'set -e\n{setup}\nset +e\n{command}\necho "exit=$?"\n'
    done = subprocess.run(
        ["unshare", "--map-root-user", "--mount", "sh", "-c", script],
        env=env,
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = flat(done.stdout + done.stderr)
    assert "exit=" in output, output
    return int(output.rsplit("exit=", 1)[1].split()[0]), output


def test_a_read_only_directory_is_refused_and_the_file_left_as_it_is(
    api: ScriptedApi, seeded: Path, tmp_path: Path, tally: Tally
) -> None:
    """A read-only bind mount of the warehouse folder; without namespaces, a folder under a file."""
    with tally.case("bad input") as counted:
        folder = seeded.parent
        before = digest(seeded)
        if namespaces_available():
            setup = f"mount --bind {folder} {folder}\nmount -o remount,bind,ro {folder}"
            code, output = cli_in_namespace(api, tmp_path, seeded, setup)
            expected = "cannot be written (permission denied or a read-only file system)"
        else:  # root ignores permission bits: a path no one can create stands in for a read-only folder
            blocker = tmp_path / "blocker"
            blocker.write_text("")
            code, output = cli(api, tmp_path, blocker / "retab.duckdb")
            expected = "has a parent that is a regular file"
        unchanged = digest(seeded) == before
        counted.lose(0 if unchanged else 1)
        assert code == EXIT_FIX_FIRST, output
        assert expected in output and "RETAB_DUCKDB_PATH" in output, output
        assert unchanged


BIG_DAY = [run_record(f"run_{n:05d}", DAY, metadata={"pad": "p" * 2000}) for n in range(3000)]


@pytest.fixture
def big_day(api: ScriptedApi) -> Iterator[None]:
    """The day grows to ~7 MB of runs, more than the room left on the disk."""
    small = api.records[RUNS_PATH][DAY]
    api.records[RUNS_PATH][DAY] = BIG_DAY
    yield
    api.records[RUNS_PATH][DAY] = small


FULL_DISK = "cannot be written: the disk is full (or a file-size limit was reached)"


def check_full_disk(code: int, output: str, before: dict, after: dict, counted: object) -> None:
    changed = changed_rows(before, after)
    counted.lose(changed)  # type: ignore[attr-defined]
    assert code == EXIT_FIX_FIRST, output
    assert FULL_DISK in output and "free some space" in output, output
    assert "Failed days keep their previous content" in output
    assert "Traceback" not in output
    assert changed == 0, f"{changed} rows changed"


def test_a_full_disk_fails_clearly_and_keeps_the_previous_content(
    api: ScriptedApi, seeded: Path, tmp_path: Path, big_day: None, tally: Tally
) -> None:
    """A 4 MB tmpfs holding the warehouse and a filler leaving 300 kB (RLIMIT_FSIZE without namespaces)."""
    with tally.case("bad input") as counted:
        before = data_snapshot(seeded)
        if namespaces_available():
            mount, kept = tmp_path / "small-disk", tmp_path / "after"
            mount.mkdir()
            kept.mkdir()
            room = 4 * 1024 * 1024 - seeded.stat().st_size - 300 * 1024
            setup = (
                f"mount -t tmpfs -o size=4m tmpfs {mount}\ncp {seeded} {mount}/retab.duckdb\n"
                f"head -c {room} /dev/zero > {mount}/filler\ntrap 'cp {mount}/retab.duckdb* {kept}/' EXIT"
            )
            code, output = cli_in_namespace(api, tmp_path, mount / "retab.duckdb", setup)
            after = data_snapshot(kept / "retab.duckdb")
            assert "No space left on device" in output, output
        else:
            code, output = file_size_limited_sync(api, tmp_path, seeded)
            after = data_snapshot(seeded)
        check_full_disk(code, output, before, after, counted)


def file_size_limited_sync(api: ScriptedApi, tmp_path: Path, path: Path) -> tuple[int, str]:
    limit = path.stat().st_size + 64 * 1024

    def limit_file_size() -> None:  # Python ignores SIGXFSZ, so writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return cli(api, tmp_path, path, *sync_args(DAY, DAY, "--endpoint", "runs"), preexec_fn=limit_file_size)


def test_a_file_size_limit_fails_clearly_and_keeps_the_previous_content(
    api: ScriptedApi, seeded: Path, tmp_path: Path, big_day: None, tally: Tally
) -> None:
    with tally.case("bad input") as counted:
        before = data_snapshot(seeded)
        code, output = file_size_limited_sync(api, tmp_path, seeded)
        check_full_disk(code, output, before, data_snapshot(seeded), counted)
        assert "File too large" in output


TOMORROW = "2999-12-31"  # surely after today; a date computed at collection goes stale across midnight
BAD_ARGUMENTS = [
    (["sync", "--start", "2026-05-03", "--end", "2026-05-01"], "is after --end"),
    (["sync", "--start", "2026-02-30", "--end", "2026-03-01"], "'2026-02-30' does not exist"),
    (["sync", "--start", "yesterday", "--end", "2026-05-01"], "is not a day"),
    (["sync", "--start", "2026-05-01", "--end", TOMORROW], "is after today"),
    (["sync", "--end", "2026-05-01"], "--end needs --start"),
    (
        ["sync", "--start", "2026-05-01", "--end", "2026-05-01", "--endpoint", "jobs"],
        "invalid choice: 'jobs'",
    ),
    (
        ["sync", "--start", "2026-05-01", "--end", "2026-05-01", "--concurrency", "many"],
        "is not a whole number",
    ),
    (["sync", "--start", "2026-05-01", "--end", "2026-05-01", "--lookback-days", "-3"], "must be at least 1"),
    (
        ["sync", "--start", "2026-05-01", "--end", "2026-05-01", "--verbose"],
        "unrecognized arguments: --verbose",
    ),
    (["snyc"], "invalid choice: 'snyc'"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_ARGUMENTS, ids=[" ".join(a)[:60] for a, _ in BAD_ARGUMENTS])
def test_bad_command_lines_exit_2_and_touch_nothing(
    argv: list[str], message: str, api: ScriptedApi, seeded: Path, tmp_path: Path, tally: Tally
) -> None:
    with tally.case("bad input") as counted:
        before = digest(seeded)
        code, output = cli(api, tmp_path, seeded, *argv)
        unchanged = digest(seeded) == before
        counted.lose(0 if unchanged else 1)
        assert code == 2, output
        assert message in output, output
        assert "usage: retab-warehouse" in output
        assert unchanged
        fresh = tmp_path / "fresh" / "retab.duckdb"
        assert cli(api, tmp_path, fresh, *argv)[0] == 2
        assert not fresh.parent.exists(), "a bad command line created the warehouse folder"
