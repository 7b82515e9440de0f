"""The sync command's last word when the sync raises: interrupted (130) or failed, never a traceback."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines.cli.sync_command import sync_and_report
from pipelines.config import Settings
from pipelines.errors import EXIT_FAILED, EXIT_INTERRUPTED
from pipelines.sync import orchestrator


@pytest.mark.parametrize(
    ("raised", "code", "message"),
    [
        (KeyboardInterrupt(), EXIT_INTERRUPTED, "sync interrupted: the days committed so far are kept"),
        (RuntimeError("Query interrupted"), EXIT_INTERRUPTED, "sync interrupted: the days committed so far"),
        (RuntimeError("something else broke"), EXIT_FAILED, "sync failed: something else broke"),
    ],
    ids=["ctrl-c-in-python", "ctrl-c-in-a-duckdb-query", "another-error"],
)
def test_an_interrupted_sync_exits_130_however_the_interrupt_arrived(
    raised: BaseException, code: int, message: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    def interrupted_sync(*args: object, **kwargs: object) -> None:
        raise raised

    monkeypatch.setattr(orchestrator, "sync", interrupted_sync)
    settings = Settings(api_key="sk-test", duckdb_path=tmp_path / "warehouse.duckdb")
    assert sync_and_report(settings, [], [date(2026, 5, 1)], refresh_open=False, quiet=True) == code
    printed = " ".join(capsys.readouterr().err.split())
    assert message in printed, printed
    assert "Traceback" not in printed
