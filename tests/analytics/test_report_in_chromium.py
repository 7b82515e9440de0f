"""The HTML report opened in headless Chromium (Debian's `chromium`): a screenshot shows the charts."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from pipelines.report import Window, chart_data, load_report, render_html

WINDOW = Window(date(2026, 5, 1), date(2026, 5, 2))
NOW = datetime(2026, 5, 3, 8, 0, tzinfo=UTC)
DURING_THE_LAST_DAY = datetime(2026, 5, 2, 15, 0, tzinfo=UTC)
WIDTH, HEIGHT = 1200, 2400
BAND = 100  # screenshot rows are judged in bands of this many pixels


def chromium() -> str:
    """The Chromium binary; without it, fail on CI and skip elsewhere.

    Chromium is a system package (root and apt, not a package registry), so `make test` cannot
    install it on a developer's machine; there the skip says so. Under CI (`.ci/run` sets CI and
    installs Debian's chromium first) a missing binary fails the test instead of skipping it.
    """
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail(
            "chromium is not installed: CI must install Debian's package: apt-get install -y chromium"
        )
    pytest.skip("chromium is not installed (apt-get install -y chromium to run this test; under CI it fails)")


def screenshot(html: str, workdir: Path) -> np.ndarray:
    """Render the page headless at 1200x2400 and return the screenshot as an RGB array in 0..1."""
    page, png = workdir / "report.html", workdir / "shot.png"
    page.write_text(html, encoding="utf-8")
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={workdir / 'profile'}", f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}",
        page.resolve().as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert png.exists(), f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    pixels = image.imread(str(png))[:, :, :3]
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    return pixels


def colourful(pixels: np.ndarray) -> np.ndarray:
    """Pixels that are clearly coloured, not white, grey or black text."""
    return (pixels.max(axis=2) - pixels.min(axis=2)) > 0.25


def distinct_colours(pixels: np.ndarray) -> int:
    """Distinct colours among the coloured pixels, at 5 bits per channel."""
    levels = (pixels[colourful(pixels)] * 31).round().astype(np.int32)
    return len(np.unique(levels[:, 0] * 1024 + levels[:, 1] * 32 + levels[:, 2]))


def pixels_of(pixels: np.ndarray, colour: str) -> int:
    """Pixels within a small tolerance of a '#rrggbb' colour."""
    rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(pixels - rgb).max(axis=2) < 0.03).sum())


def coloured_bands(pixels: np.ndarray) -> int:
    """Horizontal bands of the page holding at least 300 coloured pixels (a chart's lines or bars)."""
    mask = colourful(pixels)
    return sum(int(mask[top : top + BAND].sum() >= 300) for top in range(0, HEIGHT, BAND))


@pytest.fixture
def charted_page(warehouse: Path) -> str:
    return render_html(load_report(warehouse, WINDOW, now=NOW))


def test_the_charts_are_drawn_in_chromium(charted_page: str, tmp_path: Path) -> None:
    pixels = screenshot(charted_page, tmp_path)
    assert colourful(pixels).sum() > 20_000  # lines, bars and filled histograms in several colours
    assert distinct_colours(pixels) > 40
    assert coloured_bands(pixels) >= 8  # four charts of about 400 px each, each with colour across bands
    lower = pixels[HEIGHT // 2 :]
    assert (lower.min(axis=2) < 0.5).sum() > 5_000  # dark pixels below the charts: axes and table text


def test_workflows_are_drawn_in_their_own_colours(charted_page: str, tmp_path: Path) -> None:
    pixels = screenshot(charted_page, tmp_path)
    for workflow, colour in chart_data.stable_colours(["wf_a", "wf_b", "wf_c"]).items():
        assert pixels_of(pixels, colour) > 100, workflow  # its lines and legend entries


def test_a_page_with_todays_partial_day_and_a_cut_legend_draws_its_charts(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chart_data, "CHART_WORKFLOWS", 2)
    page = render_html(load_report(warehouse, WINDOW, now=DURING_THE_LAST_DAY))
    assert "2 busiest of 3 workflows" in page
    pixels = screenshot(page, tmp_path)
    assert colourful(pixels).sum() > 20_000
    assert coloured_bands(pixels) >= 8


def test_a_page_without_charts_does_not_pass_the_check(empty_warehouse: Path, tmp_path: Path) -> None:
    """The same measures on the empty-warehouse page stay far below the thresholds above."""
    pixels = screenshot(render_html(load_report(empty_warehouse, WINDOW, now=NOW)), tmp_path)
    assert pixels.mean() > 0.9  # the page did render: mostly light background
    assert colourful(pixels).sum() < 20_000
    assert coloured_bands(pixels) < 8
