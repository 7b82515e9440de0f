"""Fixtures of the reliability suite: the case tally, a clean environment, and soak deselection.

Tests marked `soak` run only when a marker expression asks for them (`make soak` runs `-m soak`);
a plain `pytest` deselects them here, so `make test` keeps to the fast variants.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reliability import summary
from reliability.summary import PROPERTY, Tally


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.is_registered(summary):
        config.pluginmanager.register(summary, "reliability.summary")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a marker expression, leave out the soak tests."""
    if config.getoption("markexpr", ""):
        return
    soak = [item for item in items if item.get_closest_marker("soak") is not None]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if item.get_closest_marker("soak") is None]


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    """Count this test's cases for the summary table."""
    counts = Tally()
    yield counts
    request.node.user_properties.append((PROPERTY, counts.rows()))


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No RETAB_* variable or DAGSTER_HOME leaks in from the shell; temp files land under tmp_path."""
    for name in ("RETAB_API_KEY", "RETAB_API_BASE_URL", "RETAB_DUCKDB_PATH", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    monkeypatch.setenv("TMPDIR", str(scratch))


@pytest.fixture
def dagster_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A persistent Dagster instance in tmp_path/dagster_home, configured by the project's dagster.yaml."""
    import shutil

    import dagster as dg

    from reliability.world import REPO

    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance
