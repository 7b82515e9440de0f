"""Record builders for the flatten tests and benchmark: both documented forms, every lifecycle variant."""

from __future__ import annotations

import copy
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

DAY = date(2026, 5, 1)
SYNCED_AT = datetime(2026, 5, 2, 3, 4, 5, 678901, tzinfo=UTC)

# The reference page's error record for GET /v1/workflows/runs, verbatim.
REFERENCE_RUN: dict[str, Any] = {
    "id": "run_def456",
    "workflow": {"workflow_id": "wf_abc123xyz", "version_id": "ver_abc123xyz"},
    "trigger": {"type": "api"},
    "lifecycle": {
        "status": "error",
        "message": "Extract block failed: schema validation",
        "stage": "execution",
        "category": None,
        "details": None,
        "failing_step_id": "extract-block-1",
    },
    "timing": {
        "created_at": "2026-05-01T13:55:00Z",
        "started_at": "2026-05-01T13:55:00Z",
        "completed_at": "2026-05-01T13:55:08Z",
    },
    "inputs": {
        "documents": {
            "start-1": {"id": "file_456", "filename": "scan_blurry.pdf", "mime_type": "application/pdf"}
        },
        "json_data": {},
    },
}

# The reference page's record for GET /v1/workflows/experiments/runs, verbatim.
REFERENCE_EXPERIMENT_RUN: dict[str, Any] = {
    "id": "exprun_2",
    "workflow": {"workflow_id": "wf_abc123", "version_id": "draft_2026_05_18"},
    "trigger": {"type": "api"},
    "lifecycle": {"status": "completed"},
    "timing": {
        "created_at": "2026-05-02T11:00:00Z",
        "started_at": "2026-05-02T11:00:01Z",
        "completed_at": "2026-05-02T11:04:18Z",
        "duration_ms": 258221,
    },
    "experiment_id": "exp_abc",
    "block_id": "extract-invoice",
    "block_kind": "extract",
    "n_consensus": 5,
    "total_document_count": 12,
    "completed_document_count": 12,
    "error_count": 0,
    "score": 0.87,
    "definition_fingerprint": "0ff93ddc7cefcb42",
    "documents_fingerprint": "ddd95baadce6045f",
}

RUN_LIFECYCLES: dict[str, dict[str, Any]] = {
    "pending": {"status": "pending"},
    "running": {"status": "running"},
    "completed": {"status": "completed"},
    "awaiting_review": {"status": "awaiting_review", "waiting_for_block_ids": ["review-1", "review-2"]},
    "error": {
        "status": "error",
        "message": "Extract block failed",
        "stage": "execution",
        "category": "permanent",
        "details": {
            "message": "bad schema",
            "stack_trace": "Traceback ...",
            "block_id": "extract-1",
            "block_name": "Extract",
            "error_code": "E42",
            "context": {"attempt": 2},
        },
        "failing_step_id": "extract-1",
    },
    "cancelled": {"status": "cancelled", "reason": "user asked"},
}

EXPERIMENT_LIFECYCLES: dict[str, dict[str, Any]] = {
    "pending": {"status": "pending"},
    "queued": {"status": "queued"},
    "running": {"status": "running"},
    "completed": {"status": "completed"},
    "error": {"status": "error", "message": "consensus failed", "details": {"error_code": "E1"}},
    "cancelled": {"status": "cancelled", "reason": "superseded"},
}


def iso(instant: datetime) -> str:
    """An instant as the API writes it: microseconds and a Z."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_record(
    run_id: str = "run_1",
    *,
    form: str = "sdk",
    status: str = "completed",
    created: datetime | None = None,
    documents: int = 1,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A workflow-run record in the SDK form or the reference-page ("docs") form."""
    created = created or datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
    started = created + timedelta(seconds=1)
    record: dict[str, Any] = {"id": run_id}
    if form == "docs":
        record["workflow"] = {"workflow_id": "wf_1", "version_id": "ver_1"}
    else:
        record["workflow_id"] = "wf_1"
        record["workflow_version_id"] = "ver_1"
    record["trigger"] = {"type": "api"}
    record["lifecycle"] = copy.deepcopy(RUN_LIFECYCLES[status])
    open_ = status in ("pending", "running", "awaiting_review")
    record["timing"] = {
        "created_at": iso(created),
        "started_at": None if status == "pending" else iso(started),
        "completed_at": None if open_ else iso(started + timedelta(milliseconds=8123)),
    }
    record["inputs"] = {
        "documents": {
            f"start-{k}": {
                "id": f"file_{run_id}_{k}",
                "filename": f"doc{k}.pdf",
                "mime_type": "application/pdf",
            }
            for k in range(documents)
        },
        "json_data": {},
    }
    if form != "docs":
        record["metadata"] = metadata
    return record


def experiment_record(
    run_id: str = "exprun_1",
    *,
    form: str = "sdk",
    status: str = "completed",
    created: datetime | None = None,
    duration_ms: int | None = 12345,
) -> dict[str, Any]:
    """An experiment-run record in the SDK form or the reference-page ("docs") form."""
    created = created or datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
    started = created + timedelta(seconds=1)
    done = status in ("completed", "error", "cancelled")
    record: dict[str, Any] = {"id": run_id}
    if form == "docs":
        record["workflow"] = {"workflow_id": "wf_1", "version_id": "ver_1"}
    else:
        record["workflow_id"] = "wf_1"
        record["workflow_version_id"] = "ver_1"
    record["trigger"] = {"type": "manual"}
    record["lifecycle"] = copy.deepcopy(EXPERIMENT_LIFECYCLES[status])
    record["timing"] = {
        "created_at": iso(created),
        "started_at": None if status in ("pending", "queued") else iso(started),
        "completed_at": iso(started + timedelta(seconds=12)) if done else None,
        "duration_ms": duration_ms if done else None,
    }
    record.update({"experiment_id": "exp_1", "block_id": "extract-invoice", "n_consensus": 5})
    if form == "docs":
        record.update({"block_kind": "extract", "definition_fingerprint": "0ff93ddc7cefcb42"})
    else:
        record.update(
            {
                "block_type": "extract",
                "block_execution_fingerprint": "0ff93ddc7cefcb42",
                "document_count": 12,
                "parent_run_id": None,
                "block_version_id": "bv_1",
                "metrics_validity_fingerprint": "aa11",
                "metrics_validity_fingerprint_version": 1,
            }
        )
    record.update(
        {
            "total_document_count": 12,
            "completed_document_count": 12 if done else 3,
            "error_count": 0,
            "score": 0.87 if status == "completed" else None,
            "documents_fingerprint": "ddd95baadce6045f",
        }
    )
    return record


def synthetic_runs(n: int, *, form: str, day: date = DAY, seed: int = 0) -> list[dict[str, Any]]:
    """n workflow-run records created on `day`, with a realistic mix of statuses and documents."""
    rng = random.Random(seed)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    statuses = ["completed"] * 80 + ["error"] * 8 + ["running"] * 4 + ["pending"] * 3
    statuses += ["awaiting_review"] * 3 + ["cancelled"] * 2
    return [
        run_record(
            f"run_{seed}_{i:08d}",
            form=form,
            status=rng.choice(statuses),
            created=start + timedelta(microseconds=rng.randrange(86_400_000_000)),
            documents=rng.choice((0, 1, 1, 1, 2)),
            metadata={"customer": f"c{i % 97}", "batch": "nightly"} if rng.random() < 0.5 else None,
        )
        for i in range(n)
    ]


def synthetic_experiment_runs(n: int, *, form: str, day: date = DAY, seed: int = 0) -> list[dict[str, Any]]:
    """n experiment-run records created on `day`, with a realistic mix of statuses."""
    rng = random.Random(seed)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    statuses = ["completed"] * 85 + ["error"] * 6 + ["running"] * 4 + ["queued"] * 2 + ["pending"] * 2
    statuses += ["cancelled"]
    return [
        experiment_record(
            f"exprun_{seed}_{i:08d}",
            form=form,
            status=rng.choice(statuses),
            created=start + timedelta(microseconds=rng.randrange(86_400_000_000)),
            duration_ms=rng.choice((None, 12345)),
        )
        for i in range(n)
    ]
