"""Bad command lines exit with code 2 and a message that says what to write instead."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.cli import main
from pipelines.errors import EXIT_FIX_FIRST

TOMORROW = "2999-12-31"  # surely after today; a date computed at collection goes stale across midnight


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sync", "--start", "2026-05-03", "--end", "2026-05-01"], "is after --end"),
        (["sync", "--start", "2026-5-1x", "--end", "2026-05-01"], "write it as YYYY-MM-DD"),
        (["sync", "--start", "2026-05-01", "--end", TOMORROW], "is after today"),
        (["sync", "--start", "2026-05-01"], "--end"),
        (["sync", "--start", "2026-05-01", "--end", "2026-05-01", "--endpoint", "jobs"], "invalid choice"),
        (
            ["sync", "--start", "2026-05-01", "--end", "2026-05-01", "--concurrency", "0"],
            "must be at least 1",
        ),
        (["frobnicate"], "invalid choice"),
    ],
    ids=[
        "start-after-end",
        "malformed-day",
        "future-day",
        "missing-end",
        "unknown-endpoint",
        "zero-concurrency",
        "unknown-command",
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_sync_without_a_key_says_what_to_set(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("RETAB_API_KEY", raising=False)
    monkeypatch.setenv("RETAB_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    code = main(["sync", "--start", "2026-05-01", "--end", "2026-05-01", "--quiet"])
    assert code == EXIT_FIX_FIRST
    assert "RETAB_API_KEY is not set" in capsys.readouterr().err
    assert not (tmp_path / "w.duckdb").exists()


def test_help_imports_neither_dagster_nor_the_simulator_server():
    code = (
        "import sys\n"
        "from pipelines.cli import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = ('dagster', 'retab_sim.server', 'numpy', 'matplotlib', 'pyarrow', 'duckdb')\n"
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
