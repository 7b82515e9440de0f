"""The `docs` and `mixed` shapes carry the vendor pages' forms; the instants are those of `sdk`."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError
from retab.types.workflows.runs import WorkflowRun

from retab_sim import Simulator

Make = Callable[..., Simulator]
DAYS = ("2026-05-08", "2026-05-09", "2026-05-10")
DOCS_RUN_KEYS = {"id", "workflow", "trigger", "lifecycle", "timing"}
DOCS_EXPERIMENT_KEYS = DOCS_RUN_KEYS | {
    "experiment_id", "block_id", "block_kind", "n_consensus", "total_document_count",
    "completed_document_count", "error_count", "score", "definition_fingerprint", "documents_fingerprint",
}  # fmt: skip
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?(Z|[+-]\d{2}:\d{2})$")


def records(sim: Simulator, endpoint: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for day in DAYS for r in sim.truth(endpoint, day)}


def is_docs_form(record: dict[str, Any]) -> bool:
    return "workflow" in record


def test_docs_shape_uses_the_reference_page_forms(make_simulator: Make) -> None:
    sim = make_simulator(shape="docs")
    runs, experiments = records(sim, "runs"), records(sim, "experiment-runs")
    assert all(set(r) - {"inputs"} == DOCS_RUN_KEYS for r in runs.values())
    assert all(set(r["workflow"]) == {"workflow_id", "version_id"} for r in runs.values())
    assert all(set(r) == DOCS_EXPERIMENT_KEYS for r in experiments.values())
    assert {r["block_kind"] for r in experiments.values()} <= {"extract", "classifier", "split", "for_each"}
    error = next(r for r in runs.values() if r["lifecycle"]["status"] == "error")
    assert set(error["lifecycle"]) == {"status", "message", "stage", "category", "details", "failing_step_id"}
    with pytest.raises(ValidationError):  # the SDK's model wants workflow_id at the top
        WorkflowRun.model_validate(error)


def test_docs_timestamps_vary_in_form_but_not_in_instant(make_simulator: Make) -> None:
    docs = records(make_simulator(shape="docs"), "runs") | records(
        make_simulator(shape="docs"), "experiment-runs"
    )
    sdk = records(make_simulator(shape="sdk"), "runs") | records(
        make_simulator(shape="sdk"), "experiment-runs"
    )
    assert docs.keys() == sdk.keys()
    forms = Counter[str]()
    for run_id, record in docs.items():
        for key in ("created_at", "started_at", "completed_at"):
            text, reference = record["timing"][key], sdk[run_id]["timing"][key]
            assert (text is None) == (reference is None)
            if text is None:
                continue
            assert TIMESTAMP.match(text), text
            assert datetime.fromisoformat(text) == datetime.fromisoformat(reference)
            forms[text[-6:] if text[-6] in "+-" else "Z"] += 1
            forms["fraction" if "." in text else "whole"] += 1
    assert {"Z", "+02:00", "+00:00", "-05:00", "fraction", "whole"} <= set(forms)
    assert all(TIMESTAMP.match(r["timing"]["created_at"]).group(2) == "Z" for r in sdk.values())  # type: ignore[union-attr]


def test_mixed_shape_serves_both_forms_in_one_listing(make_simulator: Make) -> None:
    mixed = records(make_simulator(shape="mixed"), "runs")
    forms = Counter(is_docs_form(r) for r in mixed.values())
    assert forms[True] > 100 and forms[False] > 100
    for record in mixed.values():
        if is_docs_form(record):
            assert "workflow_id" not in record and "metadata" not in record
        else:
            assert "workflow" not in record and "metadata" in record
    experiments = records(make_simulator(shape="mixed"), "experiment-runs").values()
    assert {"block_kind" in r for r in experiments} == {True, False}
    assert all(("block_kind" in r) == ("definition_fingerprint" in r) for r in experiments)


def test_the_same_seed_has_the_same_runs_in_every_shape(make_simulator: Make) -> None:
    sdk, docs = records(make_simulator(shape="sdk"), "runs"), records(make_simulator(shape="docs"), "runs")
    for run_id, record in sdk.items():
        other = docs[run_id]
        assert other["workflow"] == {
            "workflow_id": record["workflow_id"],
            "version_id": record["workflow_version_id"],
        }
        assert (other["lifecycle"], other["trigger"], other.get("inputs", 0)) == (
            record["lifecycle"],
            record["trigger"],
            record.get("inputs", 0),
        )
