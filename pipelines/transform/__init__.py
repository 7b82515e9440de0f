"""Flatten Retab run records, in either documented form, into the declared Arrow tables (pure, no I/O).

    records ─▶ keep the last record of each id ──────────────────── earlier copies: `duplicates`
            ─▶ read, one pass per record (readers) ──────────────── unreadable shape ────────┐
            ─▶ typed columns, JSON types checked (columns) ──────── wrong type ──────────────┤
            ─▶ timestamps parsed by Arrow (timestamps) ──────────── no offset, unparseable ──┤
            ─▶ created_date compared with the day asked for ─────── another day ─────────────┤
            ─▶ FlatBatch(tables, rows, ...)                  rejected_records (reason, raw) ◀┘

Every input record ends in exactly one place: the main table, rejected_records (with a reason
from pipelines.transform.rules naming the field and the problem), or, for an earlier copy of an id
repeated in the batch, the `duplicates` count. Batches of thousands of records amortise the fixed
cost of ~30 Arrow arrays. Nothing here touches the garbage collector: the sync relaxes it around
its whole run (pipelines.sync.collector).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.endpoints import ENDPOINTS, EXPERIMENT_RUNS, WORKFLOW_RUNS, Endpoint
from pipelines.schemas import (
    EXPERIMENT_RUNS_SCHEMA,
    REJECTED_RECORDS_SCHEMA,
    UTC_TIMESTAMP,
    WORKFLOW_RUN_DOCUMENTS_SCHEMA,
    WORKFLOW_RUNS_SCHEMA,
)
from pipelines.transform.columns import CheckedColumns, dump_json, json_texts
from pipelines.transform.readers import Scan, read_experiment_runs, read_runs
from pipelines.transform.rules import experiment_problem, run_problem
from pipelines.transform.timestamps import parse_instants

__all__ = ["FLATTENERS", "FlatBatch", "flatten_experiment_runs", "flatten_workflow_runs", "flattener"]


@dataclass(frozen=True)
class FlatBatch:
    """The tables flattened from one batch of records, and what happened to the records."""

    tables: dict[str, pa.Table]
    rows: int  # rows in the main table
    rejected: int
    open_runs: int  # main-table runs whose status is not terminal (unknown and null statuses count)
    unknown_fields: int  # keys outside the documented forms, at every flattened level, in main-table rows
    duplicates: int  # records dropped because a later record in the batch has the same id


def flatten_workflow_runs(records: Sequence[Any], *, day: date, synced_at: datetime) -> FlatBatch:
    """Flatten workflow-run records listed for `day` into workflow_runs, workflow_run_documents, rejects."""
    _check_synced_at(synced_at)
    scan, duplicates = _read_last_of_each_id(records, read_runs)
    columns, c = scan.columns, CheckedColumns()
    times = _Instants(c, columns, day)
    n = len(scan.records)
    table = pa.Table.from_arrays(
        [
            c.strings(columns["id"]),
            c.strings(columns["workflow_id"]),
            c.strings(columns["workflow_version_id"]),
            c.strings(columns["trigger_type"]),
            c.strings(columns["status"]),
            c.strings(columns["error_message"]),
            c.strings(columns["error_stage"]),
            c.strings(columns["error_category"]),
            c.json_objects(columns["error_details"]),
            c.strings(columns["failing_step_id"]),
            c.string_lists(columns["waiting_for_block_ids"]),
            c.strings(columns["cancel_reason"]),
            times.created_at,
            times.started_at,
            times.completed_at,
            times.elapsed_ms(),
            pa.array(columns["document_count"], pa.int32()),
            c.json_objects(columns["metadata"]),
            times.created_date,
            json_texts(scan.records),
            _repeat(synced_at, UTC_TIMESTAMP, n),
        ],
        schema=WORKFLOW_RUNS_SCHEMA,
    )
    documents = _documents(c, columns, table)
    return _finish(WORKFLOW_RUNS, scan, c, times, table, documents, day, synced_at, duplicates)


def flatten_experiment_runs(records: Sequence[Any], *, day: date, synced_at: datetime) -> FlatBatch:
    """Flatten experiment-run records listed for `day` into experiment_runs and rejects."""
    _check_synced_at(synced_at)
    scan, duplicates = _read_last_of_each_id(records, read_experiment_runs)
    columns, c = scan.columns, CheckedColumns()
    times = _Instants(c, columns, day)
    n = len(scan.records)
    i32 = pa.int32()
    table = pa.Table.from_arrays(
        [
            c.strings(columns["id"]),
            c.strings(columns["experiment_id"]),
            c.strings(columns["workflow_id"]),
            c.strings(columns["workflow_version_id"]),
            c.strings(columns["block_id"]),
            c.strings(columns["block_type"]),
            c.strings(columns["trigger_type"]),
            c.integers(columns["n_consensus"], i32),
            c.strings(columns["status"]),
            c.strings(columns["error_message"]),
            c.strings(columns["cancel_reason"]),
            c.floats(columns["score"]),
            c.integers(columns["total_document_count"], i32),
            c.integers(columns["completed_document_count"], i32),
            c.integers(columns["document_count"], i32),
            c.integers(columns["error_count"], i32),
            c.strings(columns["execution_fingerprint"]),
            c.strings(columns["documents_fingerprint"]),
            c.strings(columns["parent_run_id"]),
            times.created_at,
            times.started_at,
            times.completed_at,
            pc.coalesce(c.integers(columns["duration_ms"], pa.int64()), times.elapsed_ms()),
            times.created_date,
            json_texts(scan.records),
            _repeat(synced_at, UTC_TIMESTAMP, n),
        ],
        schema=EXPERIMENT_RUNS_SCHEMA,
    )
    return _finish(EXPERIMENT_RUNS, scan, c, times, table, None, day, synced_at, duplicates)


_BY_NAME: dict[str, Callable[..., FlatBatch]] = {
    f.__name__: f for f in (flatten_workflow_runs, flatten_experiment_runs)
}
# Each endpoint's flattener, as its descriptor names it (pipelines.endpoints).
FLATTENERS: dict[str, Callable[..., FlatBatch]] = {e.name: _BY_NAME[e.flattener] for e in ENDPOINTS.values()}


def flattener(endpoint: Endpoint) -> Callable[..., FlatBatch]:
    """The function that flattens `endpoint`'s records (looked up at call time, so tests can wrap it)."""
    return FLATTENERS[endpoint.name]


class _Instants:
    """The batch's three timestamp columns parsed together, and each row's timestamp problems."""

    def __init__(self, checked: CheckedColumns, columns: dict[str, list[Any]], day: date):
        self.problems: dict[int, list[str]] = {}
        self.created_at = self._parse(checked.strings(columns["created_at"]), "timing.created_at")
        self.started_at = self._parse(checked.strings(columns["started_at"]), "timing.started_at")
        self.completed_at = self._parse(checked.strings(columns["completed_at"]), "timing.completed_at")
        self.created_date = self.created_at.cast(pa.date32())
        outside = pc.not_equal(self.created_date, pa.scalar(day, pa.date32()))
        if pc.any(outside).as_py():
            positions = pc.indices_nonzero(outside)
            found_dates = self.created_date.take(positions).to_pylist()
            for position, found in zip(positions.to_pylist(), found_dates, strict=True):
                self.problems.setdefault(position, []).append(
                    f"timing.created_at: {columns['created_at'][position]!r} falls on"
                    f" {found} (UTC), not on {day.isoformat()}, the day asked for"
                )

    def _parse(self, texts: pa.Array, path: str) -> pa.Array:
        """Parse one column, recording its failures under `path`."""
        instants, problems = parse_instants(texts)
        for position, problem in problems.items():
            self.problems.setdefault(position, []).append(f"{path}: {problem}")
        return instants

    def elapsed_ms(self) -> pa.Array:
        """completed_at - started_at in whole milliseconds (truncated), null when either is null."""
        micros = pc.subtract(self.completed_at, self.started_at).cast(pa.int64())
        return pc.divide(micros, pa.scalar(1000, pa.int64()))


def _documents(checked: CheckedColumns, columns: dict[str, list[Any]], runs: pa.Table) -> pa.Table:
    """workflow_run_documents for every scanned run (bad runs included), and the run position of each row."""
    documents = CheckedColumns()
    run_positions = pa.array(columns["document_run"], pa.int64())
    table = pa.Table.from_arrays(
        [
            runs.column("id").take(run_positions),
            documents.strings(columns["start_block_id"]),
            documents.strings(columns["file_id"]),
            documents.strings(columns["filename"]),
            documents.strings(columns["mime_type"]),
            runs.column("created_date").take(run_positions),
        ],
        schema=WORKFLOW_RUN_DOCUMENTS_SCHEMA,
    )
    checked.bad.update(columns["document_run"][row] for row in documents.bad)
    return table.append_column("run_position", run_positions)


def _finish(
    endpoint: Endpoint,
    scan: Scan,
    checked: CheckedColumns,
    times: _Instants,
    table: pa.Table,
    documents: pa.Table | None,
    day: date,
    synced_at: datetime,
    duplicates: int,
) -> FlatBatch:
    """Move refused rows to rejected_records, count what is left and assemble the batch."""
    problem = run_problem if endpoint is WORKFLOW_RUNS else experiment_problem
    rejected = [
        (_record_id(record), _reason(problem(record)), dump_json(record)) for record in scan.unreadable
    ]
    refused = sorted(checked.bad | times.problems.keys())
    unknown_fields = scan.unknown_fields
    tables = {endpoint.table: table}
    if documents is not None:
        tables["workflow_run_documents"] = documents
    if refused:
        read = read_runs if endpoint is WORKFLOW_RUNS else read_experiment_runs
        records = [scan.records[position] for position in refused]
        unknown_fields -= read(records).unknown_fields
        raws = table.column("raw").take(pa.array(refused, pa.int64())).to_pylist()
        for position, record, raw in zip(refused, records, raws, strict=True):
            reasons = [problem(record)] if position in checked.bad else []
            reasons += times.problems.get(position, [])
            rejected.append((_record_id(record), _reason(*reasons), raw))
        mask = [True] * table.num_rows
        for position in refused:
            mask[position] = False
        keep = pa.array(mask, pa.bool_())
        tables[endpoint.table] = table = table.filter(keep)
        if documents is not None:
            tables["workflow_run_documents"] = documents.filter(keep.take(documents.column("run_position")))
    if documents is not None:
        tables["workflow_run_documents"] = tables["workflow_run_documents"].drop_columns(["run_position"])
    tables["rejected_records"] = _rejected_table(endpoint, rejected, day, synced_at)
    terminal = pa.array(sorted(endpoint.terminal_statuses), pa.string())
    closed = pc.sum(pc.is_in(table.column("status"), value_set=terminal)).as_py() or 0
    return FlatBatch(
        tables=tables,
        rows=table.num_rows,
        rejected=len(rejected),
        open_runs=table.num_rows - closed,
        unknown_fields=unknown_fields,
        duplicates=duplicates,
    )


def _reason(*reasons: str | None) -> str:
    """The reasons found for one record, joined; a fallback should the rules have found none."""
    return "; ".join(reason for reason in reasons if reason) or "the record could not be read"


def _rejected_table(
    endpoint: Endpoint, rejected: list[tuple[str | None, str, Any]], day: date, synced_at: datetime
) -> pa.Table:
    """rejected_records rows: endpoint, day, record id, reason, raw JSON, rejected_at."""
    n = len(rejected)
    return pa.Table.from_arrays(
        [
            _repeat(endpoint.name, pa.string(), n),
            _repeat(day, pa.date32(), n),
            pa.array([run_id for run_id, _, _ in rejected], pa.string()),
            pa.array([reason for _, reason, _ in rejected], pa.string()),
            pa.array([raw for _, _, raw in rejected], pa.string()),
            _repeat(synced_at, UTC_TIMESTAMP, n),
        ],
        schema=REJECTED_RECORDS_SCHEMA,
    )


def _read_last_of_each_id(records: Sequence[Any], read: Callable[[Sequence[Any]], Scan]) -> tuple[Scan, int]:
    """Read the batch; should an id repeat, read it again keeping only the last record of each id."""
    scan = read(records)
    ids = scan.columns["id"] + [run_id for record in scan.unreadable if (run_id := _record_id(record))]
    try:
        if len(set(ids)) == len(ids):
            return scan, 0
    except TypeError:  # an unhashable id: that record is rejected later
        pass
    kept, duplicates = _keep_last_of_each_id(records)
    return (read(kept), duplicates) if duplicates else (scan, 0)


def _keep_last_of_each_id(records: Sequence[Any]) -> tuple[Sequence[Any], int]:
    """The records without the earlier copies of a repeated id, and how many copies were dropped."""
    ids = [record.get("id") if type(record) is dict else None for record in records]
    try:
        if len(set(ids)) == len(ids):
            return records, 0
    except TypeError:  # an unhashable id: that record is rejected later
        pass
    last: dict[str, int] = {}
    for position, run_id in enumerate(ids):
        if type(run_id) is str:
            last[run_id] = position
    kept = [
        record
        for position, (record, run_id) in enumerate(zip(records, ids, strict=True))
        if type(run_id) is not str or last[run_id] == position
    ]
    return kept, len(records) - len(kept)


def _record_id(record: Any) -> str | None:
    """The record's id when it has a string one, for rejected_records."""
    if type(record) is dict:
        run_id = record.get("id")
        if type(run_id) is str:
            return run_id
    return None


def _repeat(value: Any, type_: pa.DataType, n: int) -> pa.Array:
    """An array of n copies of one value."""
    return pa.repeat(pa.scalar(value, type_), n)


def _check_synced_at(synced_at: datetime) -> None:
    """Refuse a naive synced_at: every instant in the warehouse is UTC."""
    if synced_at.tzinfo is None or synced_at.utcoffset() is None:
        raise ValueError(f"synced_at must be timezone-aware, got {synced_at!r}")
