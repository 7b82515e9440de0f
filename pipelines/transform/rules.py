"""The rules a record must meet to be flattened, stated once and readably, with the reason for a refusal.

The readers and column builders enforce these rules in bulk, fast; these functions run only on
the few records they refuse, to name the field and the problem. A record is refused when:
    - it is not an object, or its `id` is missing, not a string, or empty;
    - `timing` or `timing.created_at` is missing;
    - a field that becomes a column, or an object on the way to one, has the wrong JSON type:
      strings are strings, objects objects, integers integral numbers in range (`12.0` passes, as
      in JSON Schema), numbers are not booleans, `waiting_for_block_ids` is an array of strings.
Null is accepted wherever a field is optional. Enumerations (status, stage, category, block type,
n_consensus values) are kept as given, never checked. Fields kept only in `raw` are not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

I32_RANGE = (-(2**31), 2**31 - 1)
I64_RANGE = (-(2**63), 2**63 - 1)
_MAX_FLOAT = 1.7976931348623157e308
_JSON_TYPES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", dict: "an object"}
_JSON_TYPES[list] = "an array"

Check = tuple[Callable[[Any], bool], str]  # a predicate and what it wants, for the reason


def is_string(value: Any) -> bool:
    """A JSON string."""
    return type(value) is str


def is_object(value: Any) -> bool:
    """A JSON object."""
    return type(value) is dict


def is_number(value: Any) -> bool:
    """A JSON number that fits a double (booleans are not numbers)."""
    return (type(value) is float or type(value) is int) and -_MAX_FLOAT <= value <= _MAX_FLOAT


def is_int32(value: Any) -> bool:
    """A JSON integer, or integral number, in the 32-bit range."""
    return _is_integral(value) and I32_RANGE[0] <= value <= I32_RANGE[1]


def is_int64(value: Any) -> bool:
    """A JSON integer, or integral number, in the 64-bit range."""
    return _is_integral(value) and I64_RANGE[0] <= value <= I64_RANGE[1]


def is_string_list(value: Any) -> bool:
    """A JSON array of strings (null items allowed)."""
    return type(value) is list and all(item is None or type(item) is str for item in value)


def _is_integral(value: Any) -> bool:
    """An int, or a float with no fractional part."""
    return type(value) is int or (type(value) is float and value.is_integer())


STRING: Check = (is_string, "a string")
OBJECT: Check = (is_object, "an object")
TIMESTAMP: Check = (is_string, "an ISO-8601 string")
INT32: Check = (is_int32, "a 32-bit integer")
INT64: Check = (is_int64, "a 64-bit integer")
NUMBER: Check = (is_number, "a number")
STRING_LIST: Check = (is_string_list, "an array of strings")

RUN_LIFECYCLE_FIELDS: dict[str, dict[str, Check]] = {
    "error": {
        "message": STRING,
        "stage": STRING,
        "category": STRING,
        "failing_step_id": STRING,
        "details": OBJECT,
    },
    "awaiting_review": {"waiting_for_block_ids": STRING_LIST},
    "cancelled": {"reason": STRING},
}
RUN_LIFECYCLE_FIELDS["failed"] = RUN_LIFECYCLE_FIELDS["error"]  # a filter value; read like error if ever seen
EXPERIMENT_LIFECYCLE_FIELDS: dict[str, dict[str, Check]] = {
    "error": {"message": STRING},
    "cancelled": {"reason": STRING},
}
EXPERIMENT_STRINGS = ("experiment_id", "block_id", "documents_fingerprint", "parent_run_id")
EXPERIMENT_INTEGERS = (
    *("n_consensus", "total_document_count", "completed_document_count", "document_count", "error_count"),
)
DOCUMENT_FIELDS: dict[str, Check] = {"id": STRING, "filename": STRING, "mime_type": STRING}


def run_problem(record: Any) -> str | None:
    """The first reason a workflow-run record cannot be flattened, or None."""
    if problem := _common_problem(record, {}, RUN_LIFECYCLE_FIELDS):
        return problem
    return _field_problem(record, "metadata", OBJECT) or _inputs_problem(record)


def experiment_problem(record: Any) -> str | None:
    """The first reason an experiment-run record cannot be flattened, or None."""
    if problem := _common_problem(record, {"duration_ms": INT64}, EXPERIMENT_LIFECYCLE_FIELDS):
        return problem
    block_type = "block_type" if record.get("block_type") is not None else "block_kind"
    fingerprint = (
        "block_execution_fingerprint"
        if record.get("block_execution_fingerprint") is not None
        else "definition_fingerprint"
    )
    for key in (*EXPERIMENT_STRINGS, block_type, fingerprint):
        if problem := _field_problem(record, key, STRING):
            return problem
    for key in EXPERIMENT_INTEGERS:
        if problem := _field_problem(record, key, INT32):
            return problem
    return _field_problem(record, "score", NUMBER)


def _common_problem(
    record: Any, timing_extra: dict[str, Check], lifecycle_fields: dict[str, dict[str, Check]]
) -> str | None:
    """Problems in what both forms share: id, workflow, trigger, timing, lifecycle."""
    if type(record) is not dict:
        return f"record: expected an object, got {shown(record)}"
    run_id = record.get("id")
    if run_id is None:
        return "id: missing"
    if type(run_id) is not str or not run_id:
        return wrong("id", "a non-empty string", run_id)
    return (
        _workflow_problem(record)
        or _object_problem(record, "trigger", {"type": STRING})
        or _timing_problem(record, timing_extra)
        or _lifecycle_problem(record, lifecycle_fields)
    )


def _workflow_problem(record: dict[str, Any]) -> str | None:
    """`workflow` is an object or null; each id is read from it, else from the top level, and is a string."""
    workflow = record.get("workflow")
    if workflow is not None and type(workflow) is not dict:
        return wrong("workflow", "an object", workflow)
    for nested, flat in (("workflow_id", "workflow_id"), ("version_id", "workflow_version_id")):
        if workflow is not None and workflow.get(nested) is not None:
            problem = _field_problem(workflow, nested, STRING, "workflow.")
        else:
            problem = _field_problem(record, flat, STRING)
        if problem:
            return problem
    return None


def _timing_problem(record: dict[str, Any], extra: dict[str, Check]) -> str | None:
    """`timing` is an object with a created_at; its timestamps are strings."""
    timing = record.get("timing")
    if timing is None:
        return "timing.created_at: missing (no timing object)"
    if type(timing) is not dict:
        return wrong("timing", "an object", timing)
    if timing.get("created_at") is None:
        return "timing.created_at: missing"
    fields = {"created_at": TIMESTAMP, "started_at": TIMESTAMP, "completed_at": TIMESTAMP, **extra}
    return _object_problem(record, "timing", fields)


def _lifecycle_problem(record: dict[str, Any], fields: dict[str, dict[str, Check]]) -> str | None:
    """`lifecycle` is an object or null with a string status and, by status, fields of the right type."""
    if problem := _object_problem(record, "lifecycle", {"status": STRING}):
        return problem
    lifecycle = record.get("lifecycle") or {}
    return _object_problem(record, "lifecycle", fields.get(lifecycle.get("status") or "", {}))


def _inputs_problem(record: dict[str, Any]) -> str | None:
    """`inputs` and `inputs.documents` are objects or null; each document is an object of strings."""
    if problem := _object_problem(record, "inputs", {"documents": OBJECT}):
        return problem
    files = (record.get("inputs") or {}).get("documents") or {}
    for block_id, file in files.items():
        if file is None:
            return f"inputs.documents.{block_id}: expected an object, got null"
        if problem := _object_problem(files, block_id, DOCUMENT_FIELDS, "inputs.documents."):
            return problem
    return None


def _object_problem(
    parent: dict[str, Any], key: str, fields: dict[str, Check], prefix: str = ""
) -> str | None:
    """`parent[key]` is an object or null, and each listed field of it passes its check."""
    value = parent.get(key)
    if value is None:
        return None
    if type(value) is not dict:
        return wrong(prefix + key, "an object", value)
    for name, check in fields.items():
        if problem := _field_problem(value, name, check, f"{prefix}{key}."):
            return problem
    return None


def _field_problem(parent: dict[str, Any], key: str, check: Check, prefix: str = "") -> str | None:
    """`parent[key]` is null or passes the check."""
    value = parent.get(key)
    valid, wanted = check
    if value is None or valid(value):
        return None
    return wrong(prefix + key, wanted, value)


def wrong(path: str, wanted: str, value: Any) -> str:
    """A reason naming a field, what it should be and what it is."""
    return f"{path}: expected {wanted}, got {shown(value)}"


def shown(value: Any) -> str:
    """A value's JSON type and a short rendering of it."""
    if value is None:
        return "null"
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{_JSON_TYPES.get(type(value), type(value).__name__)} {text}"
