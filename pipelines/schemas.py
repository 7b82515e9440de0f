"""Declared Arrow schemas of the warehouse tables; the DDL in pipelines/load/sql/schema must agree."""

from __future__ import annotations

import pyarrow as pa

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
JSON_TEXT = pa.string()  # a JSON document as text; DuckDB stores it as JSON

WORKFLOW_RUNS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("workflow_id", pa.string()),
        pa.field("workflow_version_id", pa.string()),
        pa.field("trigger_type", pa.string()),
        pa.field("status", pa.string()),
        pa.field("error_message", pa.string()),
        pa.field("error_stage", pa.string()),
        pa.field("error_category", pa.string()),
        pa.field("error_details", JSON_TEXT),
        pa.field("failing_step_id", pa.string()),
        pa.field("waiting_for_block_ids", pa.list_(pa.string())),
        pa.field("cancel_reason", pa.string()),
        pa.field("created_at", UTC_TIMESTAMP, nullable=False),
        pa.field("started_at", UTC_TIMESTAMP),
        pa.field("completed_at", UTC_TIMESTAMP),
        pa.field("duration_ms", pa.int64()),
        pa.field("document_count", pa.int32()),
        pa.field("metadata", JSON_TEXT),
        pa.field("created_date", pa.date32(), nullable=False),
        pa.field("raw", JSON_TEXT, nullable=False),
        pa.field("synced_at", UTC_TIMESTAMP, nullable=False),
    ]
)

EXPERIMENT_RUNS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("experiment_id", pa.string()),
        pa.field("workflow_id", pa.string()),
        pa.field("workflow_version_id", pa.string()),
        pa.field("block_id", pa.string()),
        pa.field("block_type", pa.string()),
        pa.field("trigger_type", pa.string()),
        pa.field("n_consensus", pa.int32()),
        pa.field("status", pa.string()),
        pa.field("error_message", pa.string()),
        pa.field("cancel_reason", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("total_document_count", pa.int32()),
        pa.field("completed_document_count", pa.int32()),
        pa.field("document_count", pa.int32()),
        pa.field("error_count", pa.int32()),
        pa.field("execution_fingerprint", pa.string()),
        pa.field("documents_fingerprint", pa.string()),
        pa.field("parent_run_id", pa.string()),
        pa.field("created_at", UTC_TIMESTAMP, nullable=False),
        pa.field("started_at", UTC_TIMESTAMP),
        pa.field("completed_at", UTC_TIMESTAMP),
        pa.field("duration_ms", pa.int64()),
        pa.field("created_date", pa.date32(), nullable=False),
        pa.field("raw", JSON_TEXT, nullable=False),
        pa.field("synced_at", UTC_TIMESTAMP, nullable=False),
    ]
)

WORKFLOW_RUN_DOCUMENTS_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("start_block_id", pa.string(), nullable=False),
        pa.field("file_id", pa.string()),
        pa.field("filename", pa.string()),
        pa.field("mime_type", pa.string()),
        pa.field("created_date", pa.date32(), nullable=False),
    ]
)

REJECTED_RECORDS_SCHEMA = pa.schema(
    [
        pa.field("endpoint", pa.string(), nullable=False),
        pa.field("day", pa.date32(), nullable=False),
        pa.field("record_id", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),  # JSON text when the record parsed, else as received
        pa.field("rejected_at", UTC_TIMESTAMP, nullable=False),
    ]
)

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "workflow_runs": WORKFLOW_RUNS_SCHEMA,
    "experiment_runs": EXPERIMENT_RUNS_SCHEMA,
    "workflow_run_documents": WORKFLOW_RUN_DOCUMENTS_SCHEMA,
    "rejected_records": REJECTED_RECORDS_SCHEMA,
}
