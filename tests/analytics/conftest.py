"""Fixtures: the hand-built warehouse of dataset.py, and an empty one, on tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from .dataset import build_warehouse


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """The hand-built warehouse with the analytics views."""
    return build_warehouse(tmp_path / "retab.duckdb")


@pytest.fixture
def empty_warehouse(tmp_path: Path) -> Path:
    """A warehouse with the tables and views and no rows."""
    return build_warehouse(tmp_path / "empty.duckdb", with_rows=False)
