"""Bad command lines exit with code 2 and a message that says what to write instead."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.cli import build_parser, main
from pipelines.errors import EXIT_FIX_FIRST

TOMORROW = "2999-12-31"  # surely after today; a date computed at collection goes stale across midnight


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sync", "--start", "2026-05-03", "--end", "2026-05-01"], "is after --end"),
        (["sync", "--start", "2026-5-1x", "--end", "2026-05-01"], "write it as YYYY-MM-DD"),
        (["sync", "--start", "2026-05-01", "--end", TOMORROW], "is after today"),
        (["sync", "--end", "2026-05-01"], "--end needs --start"),
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
        "end-without-start",
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


def test_a_day_that_does_not_exist_is_named_so(capsys) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["sync", "--start", "2026-11-31", "--end", "2026-12-01"])
    assert raised.value.code == EXIT_FIX_FIRST
    err = capsys.readouterr().err
    assert "'2026-11-31' does not exist" in err and "write it as YYYY-MM-DD" not in err


def test_version_and_demo_options_say_what_they_are(capsys) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--version"])
    assert raised.value.code == 0
    assert capsys.readouterr().out.startswith("retab-warehouse ")
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    demo = commands.choices["demo"]  # type: ignore[index]
    options = [a for a in demo._actions if a.option_strings and a.dest != "help"]
    assert {a.dest for a in options} >= {"days", "runs_per_day", "experiment_runs_per_day", "db", "html"}
    assert all(a.help for a in options), [a.dest for a in options if not a.help]


def test_the_sync_summary_keeps_its_headers_whole_off_a_terminal(tmp_path) -> None:
    from retab_sim import SimConfig, run_simulator

    with run_simulator(SimConfig(seed=1, days=1, runs_per_day=5)) as sim:
        env = {"RETAB_API_KEY": sim.key, "RETAB_API_BASE_URL": sim.base_url}
        env |= {"RETAB_DUCKDB_PATH": str(tmp_path / "w.duckdb"), "PATH": "/usr/bin:/bin"}
        day = sim.config.end.isoformat()
        command = [sys.executable, "-m", "pipelines.cli", "sync", "--start", day, "--end", day]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    for header in ("endpoint", "days ok", "retries", "rejected", "seconds"):
        assert header in done.stderr, done.stderr
    assert "…" not in done.stderr
