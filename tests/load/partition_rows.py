"""Arrow tables of the declared schemas, built for the load tests and the load benchmark."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.schemas import (
    EXPERIMENT_RUNS_SCHEMA,
    REJECTED_RECORDS_SCHEMA,
    WORKFLOW_RUN_DOCUMENTS_SCHEMA,
    WORKFLOW_RUNS_SCHEMA,
)

SYNCED_AT = datetime(2026, 5, 20, 3, 0, tzinfo=UTC)
SOURCE = "https://api.retab.com"


def run_ids(day: date, numbers: Sequence[int]) -> list[str]:
    """Run ids that encode their day, so that days never share an id."""
    return [f"run_{day:%Y%m%d}_{n:07d}" for n in numbers]


def workflow_runs(
    day: date, ids: Sequence[str], *, status: str = "completed", version: int = 0, pad: int = 0
) -> pa.Table:
    """workflow_runs rows for `ids`, created on `day`; `version` lands in workflow_version_id and raw."""
    n = len(ids)
    id_array = pa.array(list(ids), pa.string())
    ts = WORKFLOW_RUNS_SCHEMA.field("created_at").type
    midnight = int(datetime.combine(day, time(), UTC).timestamp() * 1_000_000)
    offsets = (np.arange(n, dtype=np.int64) * 37 % 86_400) * 1_000_000
    created = midnight + offsets
    raw = pc.binary_join_element_wise(
        '{"id": "',
        id_array,
        f'", "lifecycle": {{"status": "{status}"}}, "v": {version}, "pad": "{"x" * pad}"}}',
        "",
    )
    waiting = [["b1"]] * n if status == "awaiting_review" else [None] * n
    columns = {
        "id": id_array,
        "workflow_id": pc.binary_join_element_wise("wf_", pa.array(np.arange(n) % 7).cast(pa.string()), ""),
        "workflow_version_id": pa.array([f"ver_{version}"] * n),
        "trigger_type": pa.array(["api"] * n),
        "status": pa.array([status] * n),
        "error_message": pa.nulls(n, pa.string()),
        "error_stage": pa.nulls(n, pa.string()),
        "error_category": pa.nulls(n, pa.string()),
        "error_details": pa.nulls(n, pa.string()),
        "failing_step_id": pa.nulls(n, pa.string()),
        "waiting_for_block_ids": pa.array(waiting, pa.list_(pa.string())),
        "cancel_reason": pa.nulls(n, pa.string()),
        "created_at": pa.array(created, ts),
        "started_at": pa.array(created + 1_000_000, ts),
        "completed_at": pa.array(created + 9_000_000, ts),
        "duration_ms": pa.array(np.full(n, 8000, dtype=np.int64)),
        "document_count": pa.array(np.ones(n, dtype=np.int32)),
        "metadata": pa.array(['{"team": "ops"}'] * n),
        "created_date": pa.array([day] * n, pa.date32()),
        "raw": raw,
        "synced_at": pa.array([SYNCED_AT] * n, ts),
    }
    return pa.Table.from_pydict(columns, schema=WORKFLOW_RUNS_SCHEMA)


def run_documents(day: date, ids: Sequence[str], *, version: int = 0) -> pa.Table:
    """One workflow_run_documents row per run."""
    n = len(ids)
    columns = {
        "run_id": pa.array(list(ids), pa.string()),
        "start_block_id": ["start-1"] * n,
        "file_id": pc.binary_join_element_wise("file_", pa.array(np.arange(n)).cast(pa.string()), ""),
        "filename": [f"scan_v{version}.pdf"] * n,
        "mime_type": ["application/pdf"] * n,
        "created_date": [day] * n,
    }
    return pa.Table.from_pydict(columns, schema=WORKFLOW_RUN_DOCUMENTS_SCHEMA)


def experiment_runs(day: date, ids: Sequence[str], *, status: str = "completed") -> pa.Table:
    """experiment_runs rows for `ids`, created on `day`."""
    n = len(ids)
    midnight = datetime.combine(day, time(), UTC)
    columns: dict[str, list[object]] = {name: [None] * n for name in EXPERIMENT_RUNS_SCHEMA.names}
    columns.update(
        id=list(ids),
        status=[status] * n,
        created_at=[midnight + timedelta(minutes=i) for i in range(n)],
        created_date=[day] * n,
        raw=[json.dumps({"id": i}) for i in ids],
        synced_at=[SYNCED_AT] * n,
    )
    return pa.Table.from_pydict(columns, schema=EXPERIMENT_RUNS_SCHEMA)


def rejected(endpoint: str, day: date, reasons: Sequence[str]) -> pa.Table:
    """rejected_records rows, one per reason."""
    n = len(reasons)
    columns = {
        "endpoint": [endpoint] * n,
        "day": [day] * n,
        "record_id": [None] * n,
        "reason": list(reasons),
        "raw": ['{"no": "id"}'] * n,
        "rejected_at": [SYNCED_AT] * n,
    }
    return pa.Table.from_pydict(columns, schema=REJECTED_RECORDS_SCHEMA)
