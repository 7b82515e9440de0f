"""Hand-written examples: the documented reference records, both forms, every lifecycle variant."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from flatten_records import (
    DAY,
    EXPERIMENT_LIFECYCLES,
    REFERENCE_EXPERIMENT_RUN,
    REFERENCE_RUN,
    RUN_LIFECYCLES,
    SYNCED_AT,
    experiment_record,
    run_record,
)

from pipelines.schemas import (
    EXPERIMENT_RUNS_SCHEMA,
    REJECTED_RECORDS_SCHEMA,
    WORKFLOW_RUN_DOCUMENTS_SCHEMA,
    WORKFLOW_RUNS_SCHEMA,
)
from pipelines.transform import FLATTENERS, FlatBatch, flatten_experiment_runs, flatten_workflow_runs


def runs(records: list[Any], day: date = DAY) -> FlatBatch:
    """Flatten workflow runs listed for `day`."""
    return flatten_workflow_runs(records, day=day, synced_at=SYNCED_AT)


def experiments(records: list[Any], day: date = DAY) -> FlatBatch:
    """Flatten experiment runs listed for `day`."""
    return flatten_experiment_runs(records, day=day, synced_at=SYNCED_AT)


def only_row(batch: FlatBatch, table: str) -> dict[str, Any]:
    """The single row of a table, after checking there is exactly one."""
    rows = batch.tables[table].to_pylist()
    assert len(rows) == 1, (rows, batch.tables["rejected_records"].to_pylist())
    return rows[0]


def at(text: str) -> datetime:
    """An ISO instant as an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def test_the_reference_error_run_gives_the_documented_columns() -> None:
    batch = runs([REFERENCE_RUN])
    assert only_row(batch, "workflow_runs") == {
        "id": "run_def456",
        "workflow_id": "wf_abc123xyz",
        "workflow_version_id": "ver_abc123xyz",
        "trigger_type": "api",
        "status": "error",
        "error_message": "Extract block failed: schema validation",
        "error_stage": "execution",
        "error_category": None,
        "error_details": None,
        "failing_step_id": "extract-block-1",
        "waiting_for_block_ids": None,
        "cancel_reason": None,
        "created_at": at("2026-05-01T13:55:00+00:00"),
        "started_at": at("2026-05-01T13:55:00+00:00"),
        "completed_at": at("2026-05-01T13:55:08+00:00"),
        "duration_ms": 8000,
        "document_count": 1,
        "metadata": None,
        "created_date": date(2026, 5, 1),
        "raw": orjson.dumps(REFERENCE_RUN).decode(),
        "synced_at": SYNCED_AT,
    }
    assert batch.tables["workflow_run_documents"].to_pylist() == [
        {
            "run_id": "run_def456",
            "start_block_id": "start-1",
            "file_id": "file_456",
            "filename": "scan_blurry.pdf",
            "mime_type": "application/pdf",
            "created_date": date(2026, 5, 1),
        }
    ]
    assert (batch.rows, batch.rejected, batch.open_runs, batch.unknown_fields, batch.duplicates) == (
        1,
        0,
        0,
        0,
        0,
    )


def test_the_reference_experiment_run_gives_the_documented_columns() -> None:
    batch = experiments([REFERENCE_EXPERIMENT_RUN], day=date(2026, 5, 2))
    assert only_row(batch, "experiment_runs") == {
        "id": "exprun_2",
        "experiment_id": "exp_abc",
        "workflow_id": "wf_abc123",
        "workflow_version_id": "draft_2026_05_18",
        "block_id": "extract-invoice",
        "block_type": "extract",
        "trigger_type": "api",
        "n_consensus": 5,
        "status": "completed",
        "error_message": None,
        "cancel_reason": None,
        "score": 0.87,
        "total_document_count": 12,
        "completed_document_count": 12,
        "document_count": 0,  # absent from the reference form: the SDK's default
        "error_count": 0,
        "execution_fingerprint": "0ff93ddc7cefcb42",
        "documents_fingerprint": "ddd95baadce6045f",
        "parent_run_id": None,
        "created_at": at("2026-05-02T11:00:00+00:00"),
        "started_at": at("2026-05-02T11:00:01+00:00"),
        "completed_at": at("2026-05-02T11:04:18+00:00"),
        "duration_ms": 258221,  # the API's value, not completed - started
        "created_date": date(2026, 5, 2),
        "raw": orjson.dumps(REFERENCE_EXPERIMENT_RUN).decode(),
        "synced_at": SYNCED_AT,
    }
    assert (batch.rows, batch.rejected, batch.open_runs, batch.unknown_fields) == (1, 0, 0, 0)


def test_tables_have_exactly_the_declared_schemas() -> None:
    run_batch = runs([run_record("run_1"), "not a record"])
    experiment_batch = experiments([experiment_record("exprun_1"), 42])
    assert set(run_batch.tables) == {"workflow_runs", "workflow_run_documents", "rejected_records"}
    assert set(experiment_batch.tables) == {"experiment_runs", "rejected_records"}
    assert run_batch.tables["workflow_runs"].schema.equals(WORKFLOW_RUNS_SCHEMA, check_metadata=True)
    assert run_batch.tables["workflow_run_documents"].schema.equals(WORKFLOW_RUN_DOCUMENTS_SCHEMA)
    assert experiment_batch.tables["experiment_runs"].schema.equals(
        EXPERIMENT_RUNS_SCHEMA, check_metadata=True
    )
    for batch in (run_batch, experiment_batch):
        assert batch.tables["rejected_records"].schema.equals(REJECTED_RECORDS_SCHEMA, check_metadata=True)
        assert batch.tables["rejected_records"].num_rows == 1


@pytest.mark.parametrize(
    "flatten", [flatten_workflow_runs, flatten_experiment_runs], ids=["runs", "experiments"]
)
def test_an_empty_batch_gives_empty_tables_of_the_declared_schemas(flatten: Any) -> None:
    batch = flatten([], day=DAY, synced_at=SYNCED_AT)
    assert all(table.num_rows == 0 for table in batch.tables.values())
    assert (batch.rows, batch.rejected, batch.open_runs, batch.unknown_fields, batch.duplicates) == (
        0,
        0,
        0,
        0,
        0,
    )


def test_flatteners_are_keyed_by_endpoint_name() -> None:
    assert {"runs": flatten_workflow_runs, "experiment-runs": flatten_experiment_runs} == FLATTENERS


def test_both_run_forms_give_the_same_columns_but_raw() -> None:
    sdk = only_row(runs([run_record("run_1", form="sdk")]), "workflow_runs")
    docs = only_row(runs([run_record("run_1", form="docs")]), "workflow_runs")
    assert sdk.pop("raw") != docs.pop("raw")
    assert sdk == docs
    assert sdk["workflow_id"] == "wf_1" and sdk["workflow_version_id"] == "ver_1"


def test_both_experiment_forms_give_the_same_columns_where_both_carry_them() -> None:
    sdk = only_row(experiments([experiment_record("exprun_1", form="sdk")]), "experiment_runs")
    docs = only_row(experiments([experiment_record("exprun_1", form="docs")]), "experiment_runs")
    for row in (sdk, docs):
        assert row["block_type"] == "extract"
        assert row["execution_fingerprint"] == "0ff93ddc7cefcb42"
        assert row["workflow_id"] == "wf_1" and row["workflow_version_id"] == "ver_1"
    assert sdk["document_count"] == 12 and docs["document_count"] == 0
    different = {key for key in sdk if sdk[key] != docs[key]}
    assert different == {"raw", "document_count"}


def test_a_nested_workflow_without_an_id_falls_back_to_the_top_level_one() -> None:
    record = run_record("run_1", form="docs")
    record["workflow"] = {"version_id": "ver_9"}
    record["workflow_id"] = "wf_top"
    row = only_row(runs([record]), "workflow_runs")
    assert (row["workflow_id"], row["workflow_version_id"]) == ("wf_top", "ver_9")


RUN_VARIANTS = {
    "pending": {"status": "pending"},
    "running": {"status": "running"},
    "completed": {"status": "completed"},
    "awaiting_review": {"status": "awaiting_review", "waiting_for_block_ids": ["review-1", "review-2"]},
    "error": {
        "status": "error",
        "error_message": "Extract block failed",
        "error_stage": "execution",
        "error_category": "permanent",
        "error_details": RUN_LIFECYCLES["error"]["details"],
        "failing_step_id": "extract-1",
    },
    "cancelled": {"status": "cancelled", "cancel_reason": "user asked"},
}
LIFECYCLE_COLUMNS = (
    "error_message",
    "error_stage",
    "error_category",
    "error_details",
    "failing_step_id",
    "waiting_for_block_ids",
    "cancel_reason",
)


@pytest.mark.parametrize("form", ["sdk", "docs"])
@pytest.mark.parametrize("status", sorted(RUN_VARIANTS))
def test_each_run_lifecycle_fills_its_own_columns_only(status: str, form: str) -> None:
    batch = runs([run_record("run_1", form=form, status=status)])
    row = only_row(batch, "workflow_runs")
    expected = {column: None for column in LIFECYCLE_COLUMNS} | RUN_VARIANTS[status]
    if row["error_details"] is not None:
        row["error_details"] = orjson.loads(row["error_details"])
    assert {key: row[key] for key in expected} == expected
    assert batch.open_runs == (1 if status in ("pending", "running", "awaiting_review") else 0)
    assert batch.unknown_fields == 0


def test_awaiting_review_without_block_ids_gets_an_empty_list_and_null_stays_null() -> None:
    missing = run_record("run_1", status="awaiting_review")
    del missing["lifecycle"]["waiting_for_block_ids"]
    null = run_record("run_2", status="awaiting_review")
    null["lifecycle"]["waiting_for_block_ids"] = None
    rows = runs([missing, null]).tables["workflow_runs"].to_pylist()
    assert [row["waiting_for_block_ids"] for row in rows] == [[], None]


EXPERIMENT_VARIANTS = {
    "pending": (None, None, True),
    "queued": (None, None, True),
    "running": (None, None, True),
    "completed": (None, None, False),
    "error": ("consensus failed", None, False),
    "cancelled": (None, "superseded", False),
}


@pytest.mark.parametrize("form", ["sdk", "docs"])
@pytest.mark.parametrize("status", sorted(EXPERIMENT_LIFECYCLES))
def test_each_experiment_lifecycle_fills_its_own_columns_only(status: str, form: str) -> None:
    batch = experiments([experiment_record("exprun_1", form=form, status=status)])
    row = only_row(batch, "experiment_runs")
    message, reason, open_ = EXPERIMENT_VARIANTS[status]
    assert (row["status"], row["error_message"], row["cancel_reason"]) == (status, message, reason)
    assert batch.open_runs == int(open_)
    assert batch.unknown_fields == 0


@pytest.mark.parametrize(
    ("lifecycle", "status"),
    [({"status": "paused"}, "paused"), ({}, None), (None, None)],
    ids=["unknown-status", "no-status", "null-lifecycle"],
)
def test_an_unknown_or_missing_status_is_kept_and_counted_open(lifecycle: Any, status: str | None) -> None:
    record = run_record("run_1")
    record["lifecycle"] = lifecycle
    batch = runs([record])
    assert only_row(batch, "workflow_runs")["status"] == status
    assert batch.open_runs == 1


def test_a_record_with_no_lifecycle_key_is_kept_and_counted_open() -> None:
    record = run_record("run_1")
    del record["lifecycle"]
    batch = runs([record])
    assert only_row(batch, "workflow_runs")["status"] is None
    assert batch.open_runs == 1


def test_failed_is_read_like_error_and_is_terminal() -> None:
    record = run_record("run_1", status="error")
    record["lifecycle"]["status"] = "failed"
    batch = runs([record])
    row = only_row(batch, "workflow_runs")
    assert (row["status"], row["error_message"]) == ("failed", "Extract block failed")
    assert batch.open_runs == 0


@pytest.mark.parametrize(
    ("timing", "started", "completed", "duration_ms"),
    [
        ({"started_at": None, "completed_at": None}, None, None, None),
        ({"completed_at": None}, "2026-05-01T10:00:01+00:00", None, None),
        ({"started_at": None}, None, "2026-05-01T10:00:09+00:00", None),
        ({}, "2026-05-01T10:00:01+00:00", "2026-05-01T10:00:09+00:00", 8000),
    ],
    ids=["both-null", "not-completed", "never-started", "both-set"],
)
def test_missing_timing_fields_give_nulls_and_a_null_duration(
    timing: dict[str, Any], started: str | None, completed: str | None, duration_ms: int | None
) -> None:
    record = run_record("run_1")
    record["timing"] = {
        "created_at": "2026-05-01T10:00:00Z",
        "started_at": "2026-05-01T10:00:01Z",
        "completed_at": "2026-05-01T10:00:09Z",
    } | timing
    row = only_row(runs([record]), "workflow_runs")
    assert row["started_at"] == (at(started) if started else None)
    assert row["completed_at"] == (at(completed) if completed else None)
    assert row["duration_ms"] == duration_ms


def test_absent_timing_keys_are_null_like_null_ones() -> None:
    record = run_record("run_1")
    record["timing"] = {"created_at": "2026-05-01T10:00:00Z"}
    row = only_row(runs([record]), "workflow_runs")
    assert (row["started_at"], row["completed_at"], row["duration_ms"]) == (None, None, None)


def test_duration_is_in_whole_milliseconds_truncated() -> None:
    record = run_record("run_1")
    record["timing"] = {
        "created_at": "2026-05-01T10:00:00Z",
        "started_at": "2026-05-01T10:00:00.000100Z",
        "completed_at": "2026-05-01T10:00:01.000999Z",
    }
    assert only_row(runs([record]), "workflow_runs")["duration_ms"] == 1000


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(258221, 258221), (None, 257000), (0, 0)],
    ids=["api-value", "computed-when-null", "zero-kept"],
)
def test_experiment_duration_is_the_apis_value_else_computed(duration: int | None, expected: int) -> None:
    record = dict(REFERENCE_EXPERIMENT_RUN)
    record["timing"] = dict(record["timing"], duration_ms=duration)
    row = only_row(experiments([record], day=date(2026, 5, 2)), "experiment_runs")
    assert row["duration_ms"] == expected


def test_experiment_duration_absent_is_computed() -> None:
    record = dict(REFERENCE_EXPERIMENT_RUN)
    record["timing"] = {k: v for k, v in record["timing"].items() if k != "duration_ms"}
    row = only_row(experiments([record], day=date(2026, 5, 2)), "experiment_runs")
    assert row["duration_ms"] == 257000


def test_experiment_counts_default_to_zero_when_absent_and_stay_null_when_null() -> None:
    absent = experiment_record("exprun_1")
    for key in ("total_document_count", "completed_document_count", "document_count", "error_count"):
        del absent[key]
    null = experiment_record("exprun_2")
    for key in ("total_document_count", "completed_document_count", "document_count", "error_count"):
        null[key] = None
    rows = experiments([absent, null]).tables["experiment_runs"].to_pylist()
    counts = ("total_document_count", "completed_document_count", "document_count", "error_count")
    assert [tuple(row[c] for c in counts) for row in rows] == [(0, 0, 0, 0), (None, None, None, None)]


def test_integral_numbers_are_accepted_as_integers_and_integers_as_scores() -> None:
    record = experiment_record("exprun_1")
    record.update(n_consensus=5.0, error_count=2.0, score=1)
    record["timing"]["duration_ms"] = 1500.0
    row = only_row(experiments([record]), "experiment_runs")
    assert (row["n_consensus"], row["error_count"], row["score"], row["duration_ms"]) == (5, 2, 1.0, 1500)


def test_a_missing_trigger_gives_a_null_trigger_type() -> None:
    record = run_record("run_1")
    del record["trigger"]
    assert only_row(runs([record]), "workflow_runs")["trigger_type"] is None


@pytest.mark.parametrize(
    "inputs",
    ["absent", None, {}, {"documents": None}, {"documents": {}}, {"json_data": {"a": 1}}],
    ids=["absent", "null", "empty", "null-documents", "no-documents", "json-only"],
)
def test_inputs_without_documents_give_no_document_rows(inputs: Any) -> None:
    record = run_record("run_1")
    if inputs == "absent":
        del record["inputs"]
    else:
        record["inputs"] = inputs
    batch = runs([record])
    assert only_row(batch, "workflow_runs")["document_count"] == 0
    assert batch.tables["workflow_run_documents"].num_rows == 0


def test_every_input_document_becomes_a_row_with_the_runs_date() -> None:
    record = run_record("run_1", documents=3)
    record["inputs"]["documents"]["start-1"] = {"id": "file_x", "filename": None}
    batch = runs([record, run_record("run_2", documents=1)])
    rows = batch.tables["workflow_run_documents"].to_pylist()
    assert [(row["run_id"], row["start_block_id"], row["file_id"], row["mime_type"]) for row in rows] == [
        ("run_1", "start-0", "file_run_1_0", "application/pdf"),
        ("run_1", "start-1", "file_x", None),
        ("run_1", "start-2", "file_run_1_2", "application/pdf"),
        ("run_2", "start-0", "file_run_2_0", "application/pdf"),
    ]
    assert {row["created_date"] for row in rows} == {DAY}
    assert [row["document_count"] for row in batch.tables["workflow_runs"].to_pylist()] == [3, 1]


def test_metadata_is_kept_as_json_text_and_null_stays_null() -> None:
    with_metadata = run_record("run_1", metadata={"customer": "acme", "note": "é ✓"})
    without = run_record("run_2", metadata=None)
    rows = runs([with_metadata, without]).tables["workflow_runs"].to_pylist()
    assert orjson.loads(rows[0]["metadata"]) == {"customer": "acme", "note": "é ✓"}
    assert rows[1]["metadata"] is None


def test_raw_is_the_record_as_received_including_unicode() -> None:
    record = run_record("run_ü", metadata={"k": '日本語 \u2028 "quoted"'})
    row = only_row(runs([record]), "workflow_runs")
    assert orjson.loads(row["raw"]) == record


def test_synced_at_is_stamped_on_every_row_in_utc() -> None:
    local = datetime.fromisoformat("2026-05-02T05:04:05.678901+02:00")
    batch = flatten_workflow_runs([run_record("run_1"), run_record("run_2"), []], day=DAY, synced_at=local)
    assert {row["synced_at"] for row in batch.tables["workflow_runs"].to_pylist()} == {SYNCED_AT}
    assert batch.tables["rejected_records"].to_pylist()[0]["rejected_at"] == SYNCED_AT


def test_a_naive_synced_at_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        flatten_workflow_runs([], day=DAY, synced_at=datetime(2026, 5, 2))
