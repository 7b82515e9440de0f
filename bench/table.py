"""Figures (a median of repetitions, with its target) and the table and JSON they end up in."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

UNITS = {
    "rows/s": "{:,.0f} rows/s",
    "MB": "{:,.0f} MB",
    "s": "{:.3f} s",
    "%": "{:.1f} %",
    "x": "{:.1f}x",
    "ratio": "{:.2f}x",
    "count": "{:,.0f}",
}


@dataclass
class Figure:
    """One measured figure: its repetitions, the median, and whether it meets its target."""

    scenario: str
    name: str
    unit: str  # a key of UNITS
    samples: list[float]
    at_least: float | None = None  # the target: the median must be >= this ...
    at_most: float | None = None  # ... or <= this; neither: an informational figure
    note: str = ""

    @property
    def median(self) -> float:
        """The median of the repetitions."""
        return statistics.median(self.samples)

    @property
    def target(self) -> str:
        """How the target reads in the table, e.g. `>= 20.0x`; empty when there is none."""
        if self.at_least is not None:
            return ">= " + self.shown(self.at_least)
        if self.at_most is not None:
            return "<= " + self.shown(self.at_most)
        return ""

    @property
    def passed(self) -> bool | None:
        """Whether the median meets the target; None without one."""
        if self.at_least is not None:
            return self.median >= self.at_least
        if self.at_most is not None:
            return self.median <= self.at_most
        return None

    def shown(self, value: float | None = None) -> str:
        """The median (or `value`) in its unit."""
        return UNITS[self.unit].format(self.median if value is None else value)

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly view."""
        return {
            "scenario": self.scenario,
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "samples": self.samples,
            "target": self.target or None,
            "passed": self.passed,
            "note": self.note or None,
        }


@dataclass
class ScenarioResult:
    """What one scenario measured, plus details worth keeping in results.json."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    load_average: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at its start and end


def render_table(results: Sequence[ScenarioResult]) -> str:
    """A plain-text table: scenario, figure, target, measured median, repetitions, pass/fail."""
    header = ("scenario", "figure", "target", "measured (median)", "repetitions", "result")
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for result in results:
        if result.error is not None:
            rows.append((result.name, "(scenario failed)", "", "", "", "ERROR"))
            notes.append(f"{result.name}: {result.error}")
        for figure in result.figures:
            verdict = {True: "pass", False: "FAIL", None: ""}[figure.passed]
            samples = ", ".join(figure.shown(v).split(" ")[0] for v in figure.samples)
            rows.append((figure.scenario, figure.name, figure.target, figure.shown(), samples, verdict))
            if figure.note:
                notes.append(f"{figure.name}: {figure.note}")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), line]
    previous = None
    for row in rows:
        shown = ("" if row[0] == previous else row[0], *row[1:])
        previous = row[0]
        out.append("  ".join(c.ljust(w) for c, w in zip(shown, widths, strict=True)).rstrip())
    if notes:
        out += ["", "Notes:"] + [f"  - {note}" for note in notes]
    return "\n".join(out)
