"""Property: for generated batches in either form, mixing valid and broken records, every record lands once.

Each generated case carries what the flattener must make of it: a valid record with its expected
key columns, documents and unknown keys, or a broken one with the start of its rejection reason.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from flatten_records import SYNCED_AT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.transform import flatten_experiment_runs, flatten_workflow_runs

DAY = date(2026, 5, 1)
MIDNIGHT = datetime(2026, 5, 1, tzinfo=UTC)
TEXT = st.text(alphabet='abcXYZ019-_ .é✓日"\\/\n', max_size=12)  # an explicit alphabet: no charmap cache
NAMES = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
PROPERTY_SETTINGS = settings(
    database=None,  # nothing written in the working directory
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RUN_STATUSES = ("pending", "running", "completed", "awaiting_review", "error", "cancelled", "paused")
EXPERIMENT_STATUSES = ("pending", "queued", "running", "completed", "error", "cancelled", "paused")
RUN_TERMINAL = {"completed", "error", "failed", "cancelled"}
EXPERIMENT_TERMINAL = {"completed", "error", "cancelled"}


@dataclass
class Case:
    """A generated record and what flattening it must give."""

    record: Any
    run_id: str | None
    reason: str | None = None  # the start of the rejection reason; None when the record is valid
    columns: dict[str, Any] = field(default_factory=dict)
    documents: list[tuple[str, Any, Any, Any]] = field(default_factory=list)
    unknown: int = 0


@st.composite
def instants(draw: st.DrawFn, low: datetime, span: timedelta) -> tuple[str, datetime]:
    """An instant after `low` (by up to `span`) written with a random offset and 0-9 fractional digits."""
    seconds = draw(st.integers(1, int(span.total_seconds()) - 1))
    digits = draw(st.integers(0, 9))
    fraction = draw(st.integers(0, 10**digits - 1))
    micros = fraction * 10**9 // 10**digits // 1000
    instant = low.replace(microsecond=0) + timedelta(seconds=seconds, microseconds=micros)
    offset = draw(st.sampled_from(["Z", "+00:00", "+02:00", "-05:30", "+05:45", "-12:00", "+14:00", "+0100"]))
    shift = timedelta() if offset == "Z" else _offset(offset)
    local = (instant.replace(microsecond=0) + shift).strftime("%Y-%m-%dT%H:%M:%S")
    text = local + (f".{fraction:0{digits}d}" if digits else "") + offset
    return text, instant


def _offset(text: str) -> timedelta:
    """'+05:45' or '+0545' as a timedelta."""
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return delta if text[0] == "+" else -delta


@st.composite
def timings(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A timing object (created on DAY in UTC) and the columns it must give."""
    created_text, created = draw(instants(MIDNIGHT - timedelta(seconds=1), timedelta(days=1)))
    timing: dict[str, Any] = {"created_at": created_text}
    started = completed = None
    if draw(st.booleans()):
        timing["started_at"], started = draw(instants(created, timedelta(hours=2)))
    elif draw(st.booleans()):
        timing["started_at"] = None
    if started is not None and draw(st.booleans()):
        timing["completed_at"], completed = draw(instants(started, timedelta(hours=1)))
    elif draw(st.booleans()):
        timing["completed_at"] = None
    elapsed = None
    if started is not None and completed is not None:
        elapsed = (completed - started) // timedelta(milliseconds=1)
    columns = {"created_at": created, "started_at": started, "completed_at": completed, "elapsed_ms": elapsed}
    return timing, columns


@st.composite
def workflow_ids(draw: st.DrawFn, record: dict[str, Any]) -> dict[str, Any]:
    """Workflow ids in the SDK (top-level) or reference-page (nested) form; the columns they give."""
    workflow_id, version_id = draw(st.none() | NAMES), draw(st.none() | NAMES)
    if not draw(st.booleans()):
        record["workflow_id"] = workflow_id
        record["workflow_version_id"] = version_id
        return {"workflow_id": workflow_id, "workflow_version_id": version_id}
    record["workflow"] = {"workflow_id": workflow_id, "version_id": version_id}
    columns = {"workflow_id": workflow_id, "workflow_version_id": version_id}
    if draw(st.booleans()):  # both forms at once: the nested id wins unless it is null
        record["workflow_id"], record["workflow_version_id"] = "top_wf", "top_ver"
        columns = {"workflow_id": workflow_id or "top_wf", "workflow_version_id": version_id or "top_ver"}
    return columns


@st.composite
def runs(draw: st.DrawFn, run_id: str) -> Case:
    """A valid workflow-run record in either form."""
    record: dict[str, Any] = {"id": run_id}
    columns = draw(workflow_ids(record))
    trigger = draw(st.none() | st.sampled_from(["api", "manual", "custom", "schedule"]))
    if trigger is not None or draw(st.booleans()):
        record["trigger"] = {"type": trigger}
    status = draw(st.sampled_from(RUN_STATUSES))
    lifecycle: dict[str, Any] = {"status": status}
    if status == "error":
        lifecycle.update(
            message=draw(TEXT), stage=draw(st.none() | TEXT), details=draw(st.none() | st.just({"a": 1}))
        )
    elif status == "awaiting_review":
        lifecycle["waiting_for_block_ids"] = draw(st.lists(NAMES, max_size=3))
    elif status == "cancelled":
        lifecycle["reason"] = draw(st.none() | TEXT)
    record["lifecycle"] = lifecycle
    record["timing"], times = draw(timings())
    documents: list[tuple[str, Any, Any, Any]] = []
    shape = draw(st.sampled_from(["absent", "null", "no-documents", "documents"]))
    if shape == "null":
        record["inputs"] = None
    elif shape == "no-documents":
        record["inputs"] = {"documents": draw(st.none() | st.just({})), "json_data": {}}
    elif shape == "documents":
        blocks = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
        files = {}
        for block in blocks:
            file = {"id": draw(st.none() | NAMES), "filename": draw(TEXT), "mime_type": "application/pdf"}
            files[block] = file
            documents.append((block, file["id"], file["filename"], file["mime_type"]))
        record["inputs"] = {"documents": files, "json_data": {"x": draw(TEXT)}}
    if draw(st.booleans()):
        record["metadata"] = draw(st.none() | st.dictionaries(NAMES, TEXT, max_size=2))
    columns.update(times, trigger_type=trigger, status=status, document_count=len(documents))
    columns["open"] = status not in RUN_TERMINAL
    return Case(record, run_id, columns=columns, documents=documents)


@st.composite
def experiment_runs(draw: st.DrawFn, run_id: str) -> Case:
    """A valid experiment-run record in either form."""
    record: dict[str, Any] = {"id": run_id}
    columns = draw(workflow_ids(record))
    docs_form = draw(st.booleans())
    status = draw(st.sampled_from(EXPERIMENT_STATUSES))
    record["lifecycle"] = {"status": status}
    if status == "error":
        record["lifecycle"].update(message=draw(TEXT), details={"error_code": "E1"})
    record["timing"], times = draw(timings())
    duration = draw(st.none() | st.integers(0, 10**9))
    if duration is not None or draw(st.booleans()):
        record["timing"]["duration_ms"] = duration
    block_type = draw(st.sampled_from(["extract", "classifier", "split", "for_each"]))
    record["block_kind" if docs_form else "block_type"] = block_type
    score = draw(st.none() | st.floats(0, 1) | st.integers(0, 1))
    n_consensus = draw(st.sampled_from([3, 5, 7, 5.0]))
    record.update(experiment_id=draw(NAMES), block_id=draw(NAMES), n_consensus=n_consensus, score=score)
    count = draw(st.none() | st.integers(0, 2**31 - 1))
    if count is not None or draw(st.booleans()):
        record["error_count"] = count
    columns.update(
        times,
        status=status,
        block_type=block_type,
        score=None if score is None else float(score),
        n_consensus=int(n_consensus),
        error_count=0 if "error_count" not in record else count,
        duration_ms=duration if duration is not None else times["elapsed_ms"],
        open=status not in EXPERIMENT_TERMINAL,
    )
    return Case(record, run_id, columns=columns)


BREAKAGES: dict[str, list[tuple[str, Any, str]]] = {
    # (where, what to put there, the start of the reason); where "" replaces the whole record
    "both": [
        ("", "text", "record: expected an object"),
        ("", [1, 2], "record: expected an object"),
        ("id", None, "id: missing"),
        ("id", 42, "id: expected a non-empty string"),
        ("timing", None, "timing.created_at: missing"),
        ("timing", "now", "timing: expected an object"),
        ("timing.created_at", None, "timing.created_at: missing"),
        (
            "timing.created_at",
            "2026-05-01T10:00:00",
            "timing.created_at: '2026-05-01T10:00:00' has no UTC offset",
        ),
        ("timing.created_at", "2026-05-02T10:00:00Z", "timing.created_at: '2026-05-02T10:00:00Z' falls on"),
        ("timing.created_at", "tomorrow", "timing.created_at: 'tomorrow' is not an ISO-8601 timestamp"),
        ("timing.created_at", 1777640000, "timing.created_at: expected an ISO-8601 string"),
        ("timing.started_at", "2026-05-01", "timing.started_at: '2026-05-01' has no UTC offset"),
        ("trigger", "api", "trigger: expected an object"),
        ("lifecycle", [], "lifecycle: expected an object"),
        ("lifecycle.status", 7, "lifecycle.status: expected a string"),
    ],
    "runs": [
        ("metadata", ["k"], "metadata: expected an object"),
        ("inputs", "files", "inputs: expected an object"),
        ("inputs.documents", [], "inputs.documents: expected an object"),
    ],
    "experiments": [
        ("score", "0.8", "score: expected a number"),
        ("n_consensus", 2.5, "n_consensus: expected a 32-bit integer"),
        ("timing.duration_ms", "12", "timing.duration_ms: expected a 64-bit integer"),
        ("document_count", True, "document_count: expected a 32-bit integer"),
    ],
}


def broken(case: Case, where: str, value: Any, reason: str) -> Case:
    """The case with one field broken, expected to be rejected with `reason`."""
    if not where:
        return Case(value, None, reason=reason)
    record = copy.deepcopy(case.record)
    *parents, last = where.split(".")
    target = record
    for key in parents:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[last] = value
    run_id = record["id"] if isinstance(record.get("id"), str) else None
    return Case(record, run_id, reason=reason)


@st.composite
def batches(draw: st.DrawFn, kind: str) -> list[Case]:
    """A batch of valid and broken records with distinct ids, some with unknown keys."""
    build = runs if kind == "runs" else experiment_runs
    breakages = BREAKAGES["both"] + BREAKAGES[kind]
    cases = []
    for number in range(draw(st.integers(0, 10))):
        case = draw(build(f"{kind}_{number}"))
        if draw(st.integers(0, 3)) == 0:
            case = broken(case, *draw(st.sampled_from(breakages)))
        elif draw(st.booleans()):
            for key in draw(st.lists(st.sampled_from(["x_new", "y_new"]), unique=True, min_size=1)):
                case.record[key] = draw(TEXT)
                case.unknown += 1
            if isinstance(case.record.get("trigger"), dict):
                case.record["trigger"]["x_new"] = 1
                case.unknown += 1
            case.record["timing"]["x_new"] = None
            case.unknown += 1
        cases.append(case)
    return cases


def check(cases: list[Case], batch: Any, table: str) -> dict[str, dict[str, Any]]:
    """The properties both endpoints share; returns the main table's rows by id."""
    rows = {row["id"]: row for row in batch.tables[table].to_pylist()}
    rejected = batch.tables["rejected_records"].to_pylist()
    valid = [case for case in cases if case.reason is None]
    assert len(rows) == batch.rows == len(valid)
    assert len(rejected) == batch.rejected == len(cases) - len(valid)
    assert batch.duplicates == 0
    assert set(rows) == {case.run_id for case in valid}
    assert sorted(str(row["record_id"]) for row in rejected) == sorted(
        str(case.run_id) for case in cases if case.reason is not None
    )
    reasons = {str(row["record_id"]): row for row in rejected}
    for case in cases:
        if case.reason is not None and case.run_id is not None:
            row = reasons[case.run_id]
            assert row["reason"].startswith(case.reason), (row["reason"], case.reason)
            assert orjson.loads(row["raw"]) == case.record
    for case in valid:
        row = rows[case.run_id]
        assert orjson.loads(row["raw"]) == case.record
        for name in (
            "workflow_id",
            "workflow_version_id",
            "status",
            "created_at",
            "started_at",
            "completed_at",
        ):
            assert row[name] == case.columns[name], name
        assert row["created_date"] == DAY
        assert row["synced_at"] == SYNCED_AT
    assert batch.unknown_fields == sum(case.unknown for case in valid)
    assert batch.open_runs == sum(case.columns["open"] for case in valid)
    return rows


@PROPERTY_SETTINGS
@given(batches("runs"))
def test_every_run_record_lands_in_exactly_one_place(cases: list[Case]) -> None:
    batch = flatten_workflow_runs([case.record for case in cases], day=DAY, synced_at=SYNCED_AT)
    rows = check(cases, batch, "workflow_runs")
    for case in cases:
        if case.reason is None:
            row = rows[case.run_id]
            assert row["trigger_type"] == case.columns["trigger_type"]
            assert row["duration_ms"] == case.columns["elapsed_ms"]
            assert row["document_count"] == case.columns["document_count"]
    expected_documents = sorted(
        (case.run_id, *document) for case in cases if case.reason is None for document in case.documents
    )
    documents = batch.tables["workflow_run_documents"].to_pylist()
    assert (
        sorted(
            (row["run_id"], row["start_block_id"], row["file_id"], row["filename"], row["mime_type"])
            for row in documents
        )
        == expected_documents
    )
    assert {row["created_date"] for row in documents} <= {DAY}


@PROPERTY_SETTINGS
@given(batches("experiments"))
def test_every_experiment_record_lands_in_exactly_one_place(cases: list[Case]) -> None:
    batch = flatten_experiment_runs([case.record for case in cases], day=DAY, synced_at=SYNCED_AT)
    rows = check(cases, batch, "experiment_runs")
    for case in cases:
        if case.reason is None:
            row = rows[case.run_id]
            for name in ("block_type", "score", "n_consensus", "error_count", "duration_ms"):
                assert row[name] == case.columns[name], name


@PROPERTY_SETTINGS
@given(st.lists(st.integers(0, 5), max_size=20), st.booleans())
def test_repeated_ids_keep_the_last_copy_and_count_the_others(numbers: list[int], experiments: bool) -> None:
    flatten = flatten_experiment_runs if experiments else flatten_workflow_runs
    records = [_simple(f"run_{number}", position) for position, number in enumerate(numbers)]
    batch = flatten(records, day=DAY, synced_at=SYNCED_AT)
    last = {f"run_{number}": position for position, number in enumerate(numbers)}
    table = batch.tables["experiment_runs" if experiments else "workflow_runs"].to_pylist()
    assert (batch.rows, batch.duplicates, batch.rejected) == (len(last), len(numbers) - len(last), 0)
    assert {row["id"]: orjson.loads(row["raw"])["position"] for row in table} == last


def _simple(run_id: str, position: int) -> dict[str, Any]:
    """A minimal valid record (of either endpoint) carrying its position in an unknown field."""
    return {"id": run_id, "timing": {"created_at": "2026-05-01T12:00:00Z"}, "position": position}
