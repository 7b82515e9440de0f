"""Readers: one pass over a batch of records into column lists, each record read whole while in cache.

A record whose shape cannot be read (a missing id or created_at, an array where an object belongs,
...) is set aside, its reason found later by pipelines.transform.rules. Leaf values are not
type-checked here but when the columns are built (pipelines.transform.columns). One pass matters:
a batch's records do not fit in the CPU cache, and a pass per field costs a cache miss per field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.errors import UnreadableRecord

_WORKFLOW_KEYS = frozenset({"workflow_id", "version_id"})
_TRIGGER_KEYS = frozenset({"type"})
_RUN_TIMING_KEYS = frozenset({"created_at", "started_at", "completed_at"})
_EXPERIMENT_TIMING_KEYS = _RUN_TIMING_KEYS | {"duration_ms"}
_INPUTS_KEYS = frozenset({"documents", "json_data"})
_DOCUMENT_KEYS = frozenset({"id", "filename", "mime_type"})
_STATUS_ONLY = frozenset({"status"})
_RUN_ERROR_KEYS = frozenset({"status", "message", "stage", "category", "details", "failing_step_id"})
_RUN_LIFECYCLE_KEYS: dict[Any, frozenset[str]] = {
    "awaiting_review": frozenset({"status", "waiting_for_block_ids"}),
    "error": _RUN_ERROR_KEYS,
    "failed": _RUN_ERROR_KEYS,
    "cancelled": frozenset({"status", "reason"}),
}
_EXPERIMENT_LIFECYCLE_KEYS: dict[Any, frozenset[str]] = {
    "error": frozenset({"status", "message", "details"}),
    "cancelled": frozenset({"status", "reason"}),
}
_COMMON_KEYS = {"id", "workflow", "workflow_id", "workflow_version_id", "trigger", "lifecycle", "timing"}
_RUN_KEYS = frozenset(_COMMON_KEYS | {"inputs", "metadata"})
_EXPERIMENT_KEYS = frozenset(
    _COMMON_KEYS
    | {"experiment_id", "block_id", "block_kind", "block_type", "n_consensus", "score", "parent_run_id"}
    | {"total_document_count", "completed_document_count", "document_count", "error_count"}
    | {"definition_fingerprint", "block_execution_fingerprint", "documents_fingerprint", "block_version_id"}
    | {"metrics_validity_fingerprint", "metrics_validity_fingerprint_version"}
)


_UNREADABLE = (UnreadableRecord, KeyError, TypeError, AttributeError)  # what reading a bad shape raises


@dataclass
class Scan:
    """Column lists read from a batch, one entry per row, and what the pass found besides."""

    records: list[Any] = field(default_factory=list)  # the record behind each row
    columns: dict[str, list[Any]] = field(default_factory=dict)
    unreadable: list[Any] = field(default_factory=list)  # records set aside, in input order
    unknown_fields: int = 0  # keys outside the documented forms, at every flattened level, over the rows


def read_runs(records: Sequence[Any]) -> Scan:
    """Read workflow-run records (either form) into columns, document rows included."""
    scan = Scan()
    kept = scan.records
    ids: list[Any] = []
    workflow_ids: list[Any] = []
    version_ids: list[Any] = []
    trigger_types: list[Any] = []
    statuses: list[Any] = []
    created: list[Any] = []
    started: list[Any] = []
    completed: list[Any] = []
    metadata: list[Any] = []
    document_counts: list[int] = []
    detailed: list[int] = []
    documents: list[tuple[int, Any, Any, Any, Any]] = []
    run_keys, timing_keys, workflow_keys, trigger_keys = (
        _RUN_KEYS,
        _RUN_TIMING_KEYS,
        _WORKFLOW_KEYS,
        _TRIGGER_KEYS,
    )
    inputs_keys, document_keys, lifecycle_keys = _INPUTS_KEYS, _DOCUMENT_KEYS, _RUN_LIFECYCLE_KEYS
    add_id, add_workflow, add_version, add_trigger = (
        ids.append,
        workflow_ids.append,
        version_ids.append,
        (trigger_types.append),
    )
    add_status, add_created, add_started, add_completed = (
        statuses.append,
        created.append,
        started.append,
        completed.append,
    )
    add_metadata, add_record = metadata.append, kept.append
    unknown = 0
    # Unknown keys: a level whose length equals the number of known keys found in it (not null)
    # has none; only otherwise is the set difference taken. A shortcut: the count is the same.
    for record in records:
        try:
            run_id = record["id"]
            timing = record["timing"]
            created_at = timing["created_at"]
            if not run_id or created_at is None:
                raise UnreadableRecord
            get = record.get
            workflow = get("workflow")
            extra = 0 if run_keys.issuperset(record) else len(record.keys() - run_keys)
            if workflow is None:
                workflow_id = get("workflow_id")
                version_id = get("workflow_version_id")
            else:
                workflow_id = workflow.get("workflow_id")
                version_id = workflow.get("version_id")
                if len(workflow) != (workflow_id is not None) + (version_id is not None):
                    extra += len(workflow.keys() - workflow_keys)
                if workflow_id is None:
                    workflow_id = get("workflow_id")
                if version_id is None:
                    version_id = get("workflow_version_id")
            trigger = get("trigger")
            if trigger is None:
                trigger_type = None
            else:
                trigger_type = trigger.get("type")
                if len(trigger) != (trigger_type is not None):
                    extra += len(trigger.keys() - trigger_keys)
            lifecycle = get("lifecycle")
            if lifecycle is None:
                status = None
            else:
                status = lifecycle.get("status")
                if len(lifecycle) != 1 or status is None:
                    extra += len(lifecycle.keys() - lifecycle_keys.get(status, _STATUS_ONLY))
            is_detailed = status in lifecycle_keys
            position = len(ids)
            inputs = get("inputs")
            if inputs is None:
                files = None
            else:
                files = inputs.get("documents")
                if not inputs_keys.issuperset(inputs):
                    extra += len(inputs.keys() - inputs_keys)
            if files:
                staged = []
                for block_id, file in files.items():
                    file_id, filename, mime_type = file.get("id"), file.get("filename"), file.get("mime_type")
                    staged.append((position, block_id, file_id, filename, mime_type))
                    if len(file) != (file_id is not None) + (filename is not None) + (mime_type is not None):
                        extra += len(file.keys() - document_keys)
            elif files is not None and type(files) is not dict:
                raise UnreadableRecord
            started_at = timing.get("started_at")
            completed_at = timing.get("completed_at")
            if len(timing) != 1 + (started_at is not None) + (completed_at is not None):
                extra += len(timing.keys() - timing_keys)
            metadata_value = get("metadata")
        except _UNREADABLE:
            scan.unreadable.append(record)
            continue
        add_id(run_id)
        add_workflow(workflow_id)
        add_version(version_id)
        add_trigger(trigger_type)
        add_status(status)
        add_created(created_at)
        add_started(started_at)
        add_completed(completed_at)
        add_metadata(metadata_value)
        add_record(record)
        if files:
            documents += staged
            document_counts.append(len(staged))
        else:
            document_counts.append(0)
        if is_detailed:
            detailed.append(position)
        unknown += extra
    scan.unknown_fields = unknown
    scan.columns.update(
        id=ids,
        workflow_id=workflow_ids,
        workflow_version_id=version_ids,
        trigger_type=trigger_types,
        status=statuses,
        created_at=created,
        started_at=started,
        completed_at=completed,
        metadata=metadata,
        document_count=document_counts,
        **_run_lifecycle_columns(kept, detailed),
        **_document_columns(documents),
    )
    return scan


def _run_lifecycle_columns(records: list[Any], detailed: list[int]) -> dict[str, list[Any]]:
    """The status-specific lifecycle columns, null except on the rows listed in `detailed`."""
    n = len(records)
    names = ("error_message", "error_stage", "error_category", "error_details", "failing_step_id")
    columns: dict[str, list[Any]] = {
        name: [None] * n for name in (*names, "waiting_for_block_ids", "cancel_reason")
    }
    for position in detailed:
        lifecycle = records[position]["lifecycle"]
        status = lifecycle["status"]
        if status == "awaiting_review":
            columns["waiting_for_block_ids"][position] = lifecycle.get("waiting_for_block_ids", [])
        elif status == "cancelled":
            columns["cancel_reason"][position] = lifecycle.get("reason")
        else:
            for name, key in zip(
                names, ("message", "stage", "category", "details", "failing_step_id"), strict=True
            ):
                columns[name][position] = lifecycle.get(key)
    return columns


def _document_columns(documents: list[tuple[int, Any, Any, Any, Any]]) -> dict[str, list[Any]]:
    """workflow_run_documents columns, with the row of each document's run."""
    names = ("document_run", "start_block_id", "file_id", "filename", "mime_type")
    if not documents:
        return {name: [] for name in names}
    return {name: list(values) for name, values in zip(names, zip(*documents, strict=True), strict=True)}


def read_experiment_runs(records: Sequence[Any]) -> Scan:
    """Read experiment-run records (either form) into columns."""
    scan = Scan()
    rows: list[tuple[Any, ...]] = []
    run_keys, timing_keys, workflow_keys, trigger_keys = (
        _EXPERIMENT_KEYS,
        _EXPERIMENT_TIMING_KEYS,
        _WORKFLOW_KEYS,
        _TRIGGER_KEYS,
    )
    lifecycle_keys = _EXPERIMENT_LIFECYCLE_KEYS
    unknown = 0
    for record in records:
        try:
            run_id = record["id"]
            timing = record["timing"]
            created_at = timing["created_at"]
            if not run_id or created_at is None:
                raise UnreadableRecord
            get = record.get
            workflow = get("workflow")
            if workflow is None:
                workflow_id = get("workflow_id")
                version_id = get("workflow_version_id")
            else:
                workflow_id = workflow.get("workflow_id")
                version_id = workflow.get("version_id")
                if workflow_id is None:
                    workflow_id = get("workflow_id")
                if version_id is None:
                    version_id = get("workflow_version_id")
            trigger = get("trigger")
            lifecycle = get("lifecycle")
            status = None if lifecycle is None else lifecycle.get("status")
            message = reason = None
            if status in lifecycle_keys:
                if status == "error":
                    message = lifecycle.get("message")
                else:
                    reason = lifecycle.get("reason")
            block_type = get("block_type")
            if block_type is None:
                block_type = get("block_kind")
            fingerprint = get("block_execution_fingerprint")
            if fingerprint is None:
                fingerprint = get("definition_fingerprint")
            extra = 0 if run_keys.issuperset(record) else len(record.keys() - run_keys)
            if not timing_keys.issuperset(timing):
                extra += len(timing.keys() - timing_keys)
            if workflow is not None and not workflow_keys.issuperset(workflow):
                extra += len(workflow.keys() - workflow_keys)
            if trigger is not None and not trigger_keys.issuperset(trigger):
                extra += len(trigger.keys() - trigger_keys)
            if lifecycle is not None and (len(lifecycle) != 1 or status is None):
                extra += len(lifecycle.keys() - lifecycle_keys.get(status, _STATUS_ONLY))
            row = (
                run_id,
                get("experiment_id"),
                workflow_id,
                version_id,
                get("block_id"),
                block_type,
                None if trigger is None else trigger.get("type"),
                get("n_consensus"),
                status,
                message,
                reason,
                get("score"),
                get("total_document_count", 0),  # the SDK's default when absent, for each count
                get("completed_document_count", 0),
                get("document_count", 0),
                get("error_count", 0),
                fingerprint,
                get("documents_fingerprint"),
                get("parent_run_id"),
                created_at,
                timing.get("started_at"),
                timing.get("completed_at"),
                timing.get("duration_ms"),
            )
        except _UNREADABLE:
            scan.unreadable.append(record)
            continue
        rows.append(row)
        scan.records.append(record)
        unknown += extra
    scan.unknown_fields = unknown
    names = (
        *("id", "experiment_id", "workflow_id", "workflow_version_id", "block_id", "block_type"),
        *("trigger_type", "n_consensus", "status", "error_message", "cancel_reason", "score"),
        *("total_document_count", "completed_document_count", "document_count", "error_count"),
        *("execution_fingerprint", "documents_fingerprint", "parent_run_id"),
        *("created_at", "started_at", "completed_at", "duration_ms"),
    )
    columns = zip(*rows, strict=True) if rows else (() for _ in names)
    scan.columns.update((name, list(values)) for name, values in zip(names, columns, strict=True))
    return scan
