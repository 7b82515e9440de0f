"""The figures of one (endpoint, day) partition sync: one type, from the walk to sync_log and Dagster.

    extract (pages, bytes, seconds, retries, complete) ─┐
    transform (rows, rejected, open_runs, unknown_fields, duplicates) ─┴─► PartitionFigures
        ─► retab.sync_log (one column per field; retries_by_cause as JSON, `retries` its sum)
        ─► the CLI's summary, the Dagster metadata, and a re-executed run's figures read back

Adding a figure means adding a field here and its column in a migration; the sync_log writer and
reader, the summary and the metadata all iterate over `FIGURE_FIELDS`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol


class RecordCounts(Protocol):
    """What a flattened batch counts (transform's FlatBatch has these)."""

    @property
    def rows(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def open_runs(self) -> int: ...
    @property
    def unknown_fields(self) -> int: ...


@dataclass(kw_only=True)
class PartitionFigures:
    """What fetching, flattening and loading one partition counted."""

    rows: int = 0  # rows in the main table
    pages: int = 0  # HTTP pages received, the final empty page included
    retries_by_cause: dict[str, int] = field(default_factory=dict)  # "429", "503", "connection", ...
    rejected: int = 0  # records kept in rejected_records instead
    open_runs: int = 0  # runs not final yet (pending, queued, running, awaiting_review)
    unknown_fields: int = 0  # keys outside the documented forms
    duplicates: int = 0  # earlier copies of a repeated id, dropped
    bytes: int = 0  # body bytes of the pages
    seconds: float = 0.0  # wall time of the walk
    complete: bool = False  # the walk reached the end of the listing
    gets: int = 0  # single-record GETs (settling open runs)
    resumed_pages: int = 0  # pages a checkpoint saved from being fetched again
    added: int = 0  # rows the day did not hold before
    changed: int = 0  # rows whose record differs from the one held before
    removed: int = 0  # rows dropped: the API no longer has the record

    @property
    def retries(self) -> int:
        """Retries of any cause."""
        return sum(self.retries_by_cause.values())

    def figures(self) -> PartitionFigures:
        """Just the figures (a copy), whatever subclass carries them."""
        return PartitionFigures(**{name: getattr(self, name) for name in FIGURE_FIELDS})

    def add_counts(self, other: RecordCounts) -> None:
        """Fold a flattened batch's record counts in (rows, rejected, open runs, unknown fields)."""
        for name in _RECORD_COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_columns(self) -> dict[str, Any]:
        """The sync_log columns of these figures, by name."""
        values: dict[str, Any] = {name: getattr(self, name) for name in FIGURE_FIELDS}
        values["retries_by_cause"] = json.dumps(self.retries_by_cause, sort_keys=True)
        values["retries"] = self.retries
        return values

    @classmethod
    def from_columns(cls, row: Mapping[str, Any]) -> PartitionFigures:
        """Figures read back from sync_log (NULLs, in rows older than a column, read as 0)."""
        values: dict[str, Any] = {}
        for name in FIGURE_FIELDS:
            value = row.get(name)
            if name == "retries_by_cause":
                values[name] = json.loads(value) if value else {}
            elif name == "complete":
                values[name] = bool(value)
            elif name == "seconds":
                values[name] = float(value or 0.0)
            else:
                values[name] = int(value or 0)
        return cls(**values)


FIGURE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(PartitionFigures))
FIGURE_COLUMNS: tuple[str, ...] = (*FIGURE_FIELDS, "retries")  # what sync_log stores of them
# Duplicates are not summed over batches: the walk counts every repeated id once (extract).
_RECORD_COUNTS = ("rows", "rejected", "open_runs", "unknown_fields")
