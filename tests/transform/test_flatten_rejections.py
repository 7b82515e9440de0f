"""Rejections (each reason), duplicates and unknown fields: nothing fails the batch, nothing vanishes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from flatten_records import DAY, SYNCED_AT, experiment_record, run_record

from pipelines.transform import flatten_experiment_runs, flatten_workflow_runs

Mutation = Callable[[dict[str, Any]], Any]


def setting(path: str, value: Any) -> Mutation:
    """A mutation setting a dotted path (creating nothing: the parents must exist)."""

    def mutate(record: dict[str, Any]) -> dict[str, Any]:
        """Set the value in place."""
        *parents, last = path.split(".")
        target = record
        for key in parents:
            target = target[key]
        target[last] = value
        return record

    return mutate


def deleting(path: str) -> Mutation:
    """A mutation deleting a dotted path."""

    def mutate(record: dict[str, Any]) -> dict[str, Any]:
        """Delete the key in place."""
        *parents, last = path.split(".")
        target = record
        for key in parents:
            target = target[key]
        del target[last]
        return record

    return mutate


RUN_REJECTIONS: dict[str, tuple[str, Mutation, str]] = {
    # id: (status of the base record, mutation, start of the reason)
    "not-an-object": (
        "completed",
        lambda r: ["a", "list"],
        'record: expected an object, got an array ["a","list"]',
    ),
    "null-record": ("completed", lambda r: None, "record: expected an object, got null"),
    "no-id": ("completed", deleting("id"), "id: missing"),
    "null-id": ("completed", setting("id", None), "id: missing"),
    "numeric-id": ("completed", setting("id", 17), "id: expected a non-empty string, got an integer 17"),
    "empty-id": ("completed", setting("id", ""), "id: expected a non-empty string"),
    "object-id": ("completed", setting("id", {"a": 1}), "id: expected a non-empty string, got an object"),
    "no-timing": ("completed", deleting("timing"), "timing.created_at: missing"),
    "timing-array": ("completed", setting("timing", []), "timing: expected an object, got an array"),
    "no-created-at": ("completed", deleting("timing.created_at"), "timing.created_at: missing"),
    "null-created-at": ("completed", setting("timing.created_at", None), "timing.created_at: missing"),
    "numeric-created-at": (
        "completed",
        setting("timing.created_at", 1777640000),
        "timing.created_at: expected an ISO-8601 string, got an integer",
    ),
    "local-created-at": (
        "completed",
        setting("timing.created_at", "2026-05-01T12:00:00"),
        "timing.created_at: '2026-05-01T12:00:00' has no UTC offset",
    ),
    "garbage-created-at": (
        "completed",
        setting("timing.created_at", "soon"),
        "timing.created_at: 'soon' is not an ISO-8601 timestamp",
    ),
    "other-day": (
        "completed",
        setting("timing.created_at", "2026-04-30T23:59:59Z"),
        "timing.created_at: '2026-04",
    ),
    "bad-started-at": (
        "completed",
        setting("timing.started_at", "2026-05-01T12:00"),
        "timing.started_at: '2026-05-01T12:00' has no UTC offset",
    ),
    "numeric-completed-at": (
        "completed",
        setting("timing.completed_at", 3.5),
        "timing.completed_at: expected an ISO-8601 string, got a number 3.5",
    ),
    "numeric-workflow-id": (
        "completed",
        setting("workflow_id", 5),
        "workflow_id: expected a string, got an integer 5",
    ),
    "numeric-version-id": (
        "completed",
        setting("workflow_version_id", True),
        "workflow_version_id: expected a string",
    ),
    "workflow-string": (
        "completed",
        setting("workflow", "wf_1"),
        "workflow: expected an object, got a string",
    ),
    "trigger-array": ("completed", setting("trigger", ["api"]), "trigger: expected an object, got an array"),
    "numeric-trigger-type": ("completed", setting("trigger.type", 1), "trigger.type: expected a string"),
    "lifecycle-string": ("completed", setting("lifecycle", "completed"), "lifecycle: expected an object"),
    "numeric-status": ("completed", setting("lifecycle.status", 3), "lifecycle.status: expected a string"),
    "array-status": (
        "completed",
        setting("lifecycle.status", ["error"]),
        "lifecycle.status: expected a string",
    ),
    "numeric-message": ("error", setting("lifecycle.message", 500), "lifecycle.message: expected a string"),
    "numeric-stage": ("error", setting("lifecycle.stage", 1), "lifecycle.stage: expected a string"),
    "numeric-category": ("error", setting("lifecycle.category", 1), "lifecycle.category: expected a string"),
    "numeric-step": ("error", setting("lifecycle.failing_step_id", 1), "lifecycle.failing_step_id: expected"),
    "string-details": (
        "error",
        setting("lifecycle.details", "boom"),
        "lifecycle.details: expected an object",
    ),
    "string-block-ids": (
        "awaiting_review",
        setting("lifecycle.waiting_for_block_ids", "review-1"),
        "lifecycle.waiting_for_block_ids: expected an array of strings",
    ),
    "numeric-block-ids": (
        "awaiting_review",
        setting("lifecycle.waiting_for_block_ids", ["review-1", 2]),
        "lifecycle.waiting_for_block_ids: expected an array of strings",
    ),
    "numeric-cancel-reason": (
        "cancelled",
        setting("lifecycle.reason", 1),
        "lifecycle.reason: expected a string",
    ),
    "string-metadata": (
        "completed",
        setting("metadata", "k=v"),
        "metadata: expected an object, got a string",
    ),
    "inputs-array": ("completed", setting("inputs", []), "inputs: expected an object, got an array"),
    "documents-array": ("completed", setting("inputs.documents", []), "inputs.documents: expected an object"),
    "documents-zero": ("completed", setting("inputs.documents", 0), "inputs.documents: expected an object"),
    "document-null": (
        "completed",
        setting("inputs.documents.start-0", None),
        "inputs.documents.start-0: expected an object, got null",
    ),
    "document-string": (
        "completed",
        setting("inputs.documents.start-0", "file_1"),
        "inputs.documents.start-0: expected an object, got a string",
    ),
    "numeric-file-id": (
        "completed",
        setting("inputs.documents.start-0.id", 9),
        "inputs.documents.start-0.id: expected a string, got an integer 9",
    ),
    "numeric-filename": (
        "completed",
        setting("inputs.documents.start-0.filename", 9),
        "inputs.documents.start-0.filename: expected a string",
    ),
}


@pytest.mark.parametrize(("status", "mutate", "reason"), RUN_REJECTIONS.values(), ids=RUN_REJECTIONS.keys())
def test_a_bad_run_is_rejected_with_a_reason_naming_the_field(
    status: str, mutate: Mutation, reason: str
) -> None:
    bad = mutate(run_record("run_bad", status=status, metadata={"k": "v"}))
    good = [run_record("run_good_1"), run_record("run_good_2")]
    batch = flatten_workflow_runs([good[0], bad, good[1]], day=DAY, synced_at=SYNCED_AT)
    assert batch.tables["workflow_runs"].column("id").to_pylist() == ["run_good_1", "run_good_2"]
    assert batch.tables["workflow_run_documents"].column("run_id").to_pylist() == ["run_good_1", "run_good_2"]
    (rejected,) = batch.tables["rejected_records"].to_pylist()
    assert rejected["reason"].startswith(reason), rejected["reason"]
    assert rejected["endpoint"] == "runs" and rejected["day"] == DAY and rejected["rejected_at"] == SYNCED_AT
    assert rejected["record_id"] == (
        bad.get("id") if isinstance(bad, dict) and isinstance(bad.get("id"), str) else None
    )
    assert orjson.loads(rejected["raw"]) == bad
    assert (batch.rows, batch.rejected, batch.duplicates) == (2, 1, 0)


EXPERIMENT_REJECTIONS: dict[str, tuple[str, Mutation, str]] = {
    "string-score": ("sdk", setting("score", "0.8"), 'score: expected a number, got a string "0.8"'),
    "boolean-score": ("sdk", setting("score", True), "score: expected a number, got a boolean true"),
    "string-n-consensus": ("sdk", setting("n_consensus", "5"), "n_consensus: expected a 32-bit integer"),
    "fractional-n-consensus": ("sdk", setting("n_consensus", 2.5), "n_consensus: expected a 32-bit integer"),
    "huge-count": ("docs", setting("total_document_count", 2**40), "total_document_count: expected a 32-bit"),
    "boolean-count": ("sdk", setting("error_count", False), "error_count: expected a 32-bit integer"),
    "string-duration": (
        "sdk",
        setting("timing.duration_ms", "1s"),
        "timing.duration_ms: expected a 64-bit integer",
    ),
    "numeric-block-type": ("sdk", setting("block_type", 1), "block_type: expected a string"),
    "numeric-block-kind": ("docs", setting("block_kind", 1), "block_kind: expected a string"),
    "numeric-fingerprint": ("sdk", setting("block_execution_fingerprint", 1), "block_execution_fingerprint:"),
    "numeric-definition": ("docs", setting("definition_fingerprint", 1), "definition_fingerprint: expected"),
    "numeric-experiment-id": ("sdk", setting("experiment_id", 1), "experiment_id: expected a string"),
    "numeric-parent": ("sdk", setting("parent_run_id", 1), "parent_run_id: expected a string"),
    "object-documents-fingerprint": ("sdk", setting("documents_fingerprint", {}), "documents_fingerprint:"),
    "nested-workflow-id": (
        "docs",
        setting("workflow.workflow_id", 1),
        "workflow.workflow_id: expected a string",
    ),
    "no-id": ("sdk", deleting("id"), "id: missing"),
    "local-created-at": ("docs", setting("timing.created_at", "2026-05-01T09:00:00"), "timing.created_at:"),
}


@pytest.mark.parametrize(
    ("form", "mutate", "reason"), EXPERIMENT_REJECTIONS.values(), ids=EXPERIMENT_REJECTIONS.keys()
)
def test_a_bad_experiment_run_is_rejected_with_a_reason_naming_the_field(
    form: str, mutate: Mutation, reason: str
) -> None:
    bad = mutate(experiment_record("exprun_bad", form=form))
    batch = flatten_experiment_runs([bad, experiment_record("exprun_good")], day=DAY, synced_at=SYNCED_AT)
    assert batch.tables["experiment_runs"].column("id").to_pylist() == ["exprun_good"]
    (rejected,) = batch.tables["rejected_records"].to_pylist()
    assert rejected["reason"].startswith(reason), rejected["reason"]
    assert rejected["endpoint"] == "experiment-runs"
    assert orjson.loads(rejected["raw"]) == bad


def test_error_message_and_cancel_reason_types_are_checked_for_experiments() -> None:
    error = experiment_record("exprun_1", status="error")
    error["lifecycle"]["message"] = 1
    cancelled = experiment_record("exprun_2", status="cancelled")
    cancelled["lifecycle"]["reason"] = []
    batch = flatten_experiment_runs([error, cancelled], day=DAY, synced_at=SYNCED_AT)
    reasons = batch.tables["rejected_records"].column("reason").to_pylist()
    assert [reason.split(":")[0] for reason in reasons] == ["lifecycle.message", "lifecycle.reason"]


def test_several_timestamp_problems_of_one_record_are_all_named() -> None:
    record = run_record("run_1")
    record["timing"].update(started_at="later", completed_at="2026-05-01T10:00:00")
    batch = flatten_workflow_runs([record], day=DAY, synced_at=SYNCED_AT)
    (reason,) = batch.tables["rejected_records"].column("reason").to_pylist()
    assert "timing.started_at: 'later'" in reason and "timing.completed_at: '2026-05-01T10:00:00'" in reason


def test_a_batch_of_only_bad_records_still_returns_every_one_rejected() -> None:
    records: list[Any] = ["x", 1, None, [], {}, {"id": "run_1"}, {"id": "run_2", "timing": {}}]
    batch = flatten_workflow_runs(records, day=DAY, synced_at=SYNCED_AT)
    assert (batch.rows, batch.rejected) == (0, len(records))
    assert batch.tables["rejected_records"].column("record_id").to_pylist() == [None] * 5 + ["run_1", "run_2"]


def test_a_huge_integer_in_an_unflattened_field_is_kept_in_raw() -> None:
    record = run_record("run_1")
    record["inputs"]["json_data"] = {"big": 2**80}
    batch = flatten_workflow_runs([record, run_record("run_2")], day=DAY, synced_at=SYNCED_AT)
    raws = batch.tables["workflow_runs"].column("raw").to_pylist()
    assert f'"big":{2**80}' in raws[0] and batch.rows == 2
    assert [orjson.loads(raw)["id"] for raw in raws] == ["run_1", "run_2"]


def test_duplicate_ids_keep_the_last_record_and_are_counted() -> None:
    first = run_record("run_1", status="running")
    last = run_record("run_1", status="completed", documents=2)
    batch = flatten_workflow_runs(
        [first, run_record("run_2"), last, run_record("run_2"), run_record("run_3")],
        day=DAY,
        synced_at=SYNCED_AT,
    )
    rows = batch.tables["workflow_runs"].to_pylist()
    assert [(row["id"], row["status"]) for row in rows] == [
        ("run_1", "completed"),
        ("run_2", "completed"),
        ("run_3", "completed"),
    ]
    assert batch.tables["workflow_run_documents"].column("run_id").to_pylist() == [
        "run_1",
        "run_1",
        "run_2",
        "run_3",
    ]
    assert (batch.rows, batch.duplicates, batch.open_runs) == (3, 2, 0)


def test_a_duplicate_whose_last_copy_is_bad_is_rejected_not_replaced_by_the_stale_copy() -> None:
    good = run_record("run_1")
    bad = run_record("run_1")
    bad["timing"]["created_at"] = "2026-05-01T10:00:00"
    batch = flatten_workflow_runs([good, bad], day=DAY, synced_at=SYNCED_AT)
    assert (batch.rows, batch.rejected, batch.duplicates) == (0, 1, 1)


def test_duplicates_are_settled_whether_either_copy_is_readable_or_not() -> None:
    unreadable = {"id": "run_1", "timing": "soon"}
    early_bad = flatten_workflow_runs([unreadable, run_record("run_1")], day=DAY, synced_at=SYNCED_AT)
    late_bad = flatten_workflow_runs([run_record("run_1"), unreadable], day=DAY, synced_at=SYNCED_AT)
    assert (early_bad.rows, early_bad.rejected, early_bad.duplicates) == (1, 0, 1)
    assert (late_bad.rows, late_bad.rejected, late_bad.duplicates) == (0, 1, 1)


def test_duplicate_experiment_ids_keep_the_last_record() -> None:
    first = experiment_record("exprun_1", status="running")
    last = experiment_record("exprun_1", status="completed")
    batch = flatten_experiment_runs([first, last], day=DAY, synced_at=SYNCED_AT)
    assert batch.tables["experiment_runs"].column("status").to_pylist() == ["completed"]
    assert (batch.rows, batch.duplicates, batch.open_runs) == (1, 1, 0)


def test_unknown_fields_at_every_level_are_counted_and_kept_in_raw() -> None:
    record = run_record("run_1", form="docs", status="error", documents=2)
    record["new_top"] = 1
    record["another_top"] = {"nested": "not counted: not a flattened level"}
    record["workflow"]["team"] = "x"
    record["trigger"]["source"] = "cron"
    record["timing"]["queued_at"] = "2026-05-01T12:00:00Z"
    record["lifecycle"]["retry_after"] = 3
    record["lifecycle"]["details"]["extra"] = "inside details: not counted"
    record["inputs"]["attachments"] = []
    record["inputs"]["documents"]["start-1"]["size"] = 10
    record["inputs"]["json_data"]["free"] = "form: not counted"
    batch = flatten_workflow_runs([record], day=DAY, synced_at=SYNCED_AT)
    assert batch.unknown_fields == 8
    assert orjson.loads(batch.tables["workflow_runs"].column("raw")[0].as_py()) == record
    assert batch.rejected == 0


def test_keys_of_another_status_count_as_unknown() -> None:
    record = run_record("run_1", status="completed")
    record["lifecycle"]["message"] = "left over"
    batch = flatten_workflow_runs([record], day=DAY, synced_at=SYNCED_AT)
    assert batch.unknown_fields == 1
    assert batch.tables["workflow_runs"].column("error_message").to_pylist() == [None]


def test_unknown_experiment_fields_are_counted_and_sdk_extras_are_known() -> None:
    record = experiment_record("exprun_1", form="sdk", status="error")
    record["lifecycle"]["details"] = {"anything": 1}
    assert flatten_experiment_runs([record], day=DAY, synced_at=SYNCED_AT).unknown_fields == 0
    record["inputs"] = {"documents": {}}
    record["timing"]["queued_at"] = None
    record["workflow"] = {"workflow_id": "wf_1", "name": "x"}
    record["lifecycle"]["stage"] = "execution"
    assert flatten_experiment_runs([record], day=DAY, synced_at=SYNCED_AT).unknown_fields == 4


def test_unknown_fields_of_rejected_records_are_not_counted() -> None:
    kept = run_record("run_1")
    kept["new"] = 1
    rejected = run_record("run_2")
    rejected["new"] = 1
    rejected["other"] = 2
    rejected["workflow_id"] = 5
    refused_late = run_record("run_3")
    refused_late["new"] = 1
    refused_late["timing"]["created_at"] = "2026-05-03T00:00:00Z"
    batch = flatten_workflow_runs([kept, rejected, refused_late], day=DAY, synced_at=SYNCED_AT)
    assert (batch.rows, batch.rejected, batch.unknown_fields) == (1, 2, 1)
