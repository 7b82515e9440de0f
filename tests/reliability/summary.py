"""The reliability summary table printed at the end of a pytest session: cases tried, survived, rows lost.

Tests count their cases with the `tally` fixture (tests/reliability/conftest.py); each test's
counts travel to the controlling process in its teardown report's `user_properties`, so the
table also adds up under pytest-xdist. The controlling process must load this module as a
plugin: tests/reliability/conftest.py registers it for runs started on tests/reliability, and
`pytest_plugins = ["reliability.summary"]` in tests/conftest.py makes a whole-suite run
(`make test`, `make soak`) print it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

PROPERTY = "reliability_tally"
CATEGORIES = ("faults", "crashes", "late updates", "concurrency", "bad input", "secrets", "dagster")


@dataclass
class Counts:
    """The figures of one category."""

    tried: int = 0
    survived: int = 0
    lost: int = 0


@dataclass
class Tally:
    """One test's cases, by category; `case()` marks a case survived when its block ends cleanly."""

    counts: dict[str, Counts] = field(default_factory=dict)

    @contextmanager
    def case(self, category: str) -> Iterator[Case]:
        """Count one case of `category`; survived unless the block raises."""
        if category not in CATEGORIES:
            raise ValueError(f"unknown reliability category {category!r}; one of {CATEGORIES}")
        counts = self.counts.setdefault(category, Counts())
        counts.tried += 1
        current = Case(counts)
        yield current
        counts.survived += 1

    def rows(self) -> list[list[Any]]:
        """[category, tried, survived, lost] per category, for user_properties."""
        return [[name, c.tried, c.survived, c.lost] for name, c in self.counts.items()]


@dataclass
class Case:
    """A case in progress: report rows lost (missing, duplicated, stale or changed) before asserting."""

    counts: Counts

    def lose(self, rows: int) -> None:
        """Add rows this case lost; the case's assertions then fail on them."""
        self.counts.lost += rows


class SummaryCollector:
    """Adds up the tallies of every test report, then prints the table."""

    def __init__(self) -> None:
        self.totals: dict[str, Counts] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        for name, value in report.user_properties:
            if name != PROPERTY:
                continue
            for category, tried, survived, lost in value:  # type: ignore[attr-defined]
                totals = self.totals.setdefault(category, Counts())
                totals.tried += tried
                totals.survived += survived
                totals.lost += lost

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.totals:
            return
        write = terminalreporter.write_line
        terminalreporter.section("reliability summary")
        header = f"{'category':<14} {'cases tried':>12} {'survived':>10} {'rows lost':>10}"
        write(header)
        write("-" * len(header))
        ordered = [c for c in CATEGORIES if c in self.totals] + sorted(set(self.totals) - set(CATEGORIES))
        for category in ordered:
            c = self.totals[category]
            write(f"{category:<14} {c.tried:>12} {c.survived:>10} {c.lost:>10}")
        total = Counts(
            sum(c.tried for c in self.totals.values()),
            sum(c.survived for c in self.totals.values()),
            sum(c.lost for c in self.totals.values()),
        )
        write("-" * len(header))
        write(f"{'total':<14} {total.tried:>12} {total.survived:>10} {total.lost:>10}")
        if total.lost or total.survived != total.tried:
            write("reliability: some cases did not survive or lost rows (must be 0); see the failures above")


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("reliability-summary-collector"):
        config.pluginmanager.register(SummaryCollector(), "reliability-summary-collector")
