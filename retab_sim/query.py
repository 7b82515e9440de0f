"""Query parameters of the two list endpoints: declared per endpoint, validated FastAPI-style.

Unknown parameters are ignored and the last of a repeated one wins, as in FastAPI.
An invalid value gives the items of a 422 body:
`{"type": "...", "loc": ["query", name], "msg": "...", "input": raw, "ctx": {...}}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from retab_sim.data import EXPERIMENT_RUNS, RUNS

RUN_STATUSES = (
    "pending",
    "queued",
    "running",
    "completed",
    "error",
    "failed",
    "awaiting_review",
    "cancelled",
)
EXPERIMENT_STATUSES = ("pending", "queued", "running", "completed", "error", "cancelled")
TRIGGER_TYPES = ("manual", "api", "schedule", "webhook", "email", "restart")
ORDERS = ("asc", "desc")
SORT_KEYS = ("timing.created_at", "created_at")  # both sort the same way; others are refused
_INT = re.compile(r"^\s*[+-]?\d+\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Param:
    """One declared query parameter."""

    name: str
    kind: str  # str | int | date | enum | json | sort
    choices: tuple[str, ...] = ()
    ge: int | None = None
    le: int | None = None


_COMMON_TAIL = (
    Param("before", "str"),
    Param("after", "str"),
    Param("limit", "int", ge=1, le=100),
    Param("order", "enum", ORDERS),
    Param("fields", "str"),
)
PARAMS: dict[str, tuple[Param, ...]] = {
    RUNS: (
        Param("workflow_id", "str"),
        Param("status", "enum", RUN_STATUSES),
        Param("exclude_status", "enum", RUN_STATUSES),
        Param("trigger_type", "enum", TRIGGER_TYPES),
        Param("from_date", "date"),
        Param("to_date", "date"),
        Param("min_duration_ms", "int"),
        Param("max_duration_ms", "int"),
        Param("search", "str"),
        Param("metadata", "json"),
        Param("sort_by", "sort", SORT_KEYS),
        *_COMMON_TAIL,
    ),
    EXPERIMENT_RUNS: (
        Param("workflow_id", "str"),
        Param("experiment_id", "str"),
        Param("block_id", "str"),
        Param("status", "enum", EXPERIMENT_STATUSES),
        Param("exclude_status", "enum", EXPERIMENT_STATUSES),
        Param("trigger_type", "str"),
        Param("from_date", "date"),
        Param("to_date", "date"),
        Param("sort_by", "sort", SORT_KEYS),
        *_COMMON_TAIL,
    ),
}


@dataclass(frozen=True)
class Query:
    """A validated list request."""

    kind: str
    workflow_id: str | None = None
    experiment_id: str | None = None
    block_id: str | None = None
    status: str | None = None
    exclude_status: str | None = None
    trigger_type: str | None = None
    from_date: int | None = None  # day ordinals
    to_date: int | None = None
    min_duration_ms: int | None = None
    max_duration_ms: int | None = None
    search: str | None = None
    metadata: dict[str, str] | None = None
    before: str | None = None
    after: str | None = None
    limit: int = 20
    order: str = "desc"
    fields: tuple[str, ...] | None = None

    @property
    def has_record_filter(self) -> bool:
        """Whether records must be inspected to know if they match (dates and cursors aside)."""
        return any(
            v is not None
            for v in (
                self.workflow_id,
                self.experiment_id,
                self.block_id,
                self.status,
                self.exclude_status,
                self.trigger_type,
                self.min_duration_ms,
                self.max_duration_ms,
                self.search,
                self.metadata,
            )
        )


def _expected(choices: tuple[str, ...]) -> str:
    quoted = [f"'{c}'" for c in choices]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _error(kind: str, name: str, msg: str, raw: str, ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": kind, "loc": ["query", name], "msg": msg, "input": raw}
    if ctx is not None:
        item["ctx"] = ctx
    return item


def _convert(p: Param, raw: str) -> tuple[Any, dict[str, Any] | None]:
    if p.kind == "str":
        return (raw or None), None
    if p.kind == "int":
        if not _INT.match(raw):
            msg = "Input should be a valid integer, unable to parse string as an integer"
            return None, _error("int_parsing", p.name, msg, raw)
        value = int(raw)
        if p.ge is not None and value < p.ge:
            msg = f"Input should be greater than or equal to {p.ge}"
            return None, _error("greater_than_equal", p.name, msg, raw, {"ge": p.ge})
        if p.le is not None and value > p.le:
            msg = f"Input should be less than or equal to {p.le}"
            return None, _error("less_than_equal", p.name, msg, raw, {"le": p.le})
        return value, None
    if p.kind == "enum":
        if raw not in p.choices:
            expected = _expected(p.choices)
            return None, _error("enum", p.name, f"Input should be {expected}", raw, {"expected": expected})
        return raw, None
    if p.kind == "sort":
        if raw not in p.choices:
            msg = f"Value error, sort_by must be one of {', '.join(p.choices)}"
            return None, _error("value_error", p.name, msg, raw, {"error": {}})
        return raw, None
    if p.kind == "date":
        try:
            if not _DATE.match(raw):
                raise ValueError
            return date.fromisoformat(raw).toordinal(), None
        except ValueError:
            msg = "Input should be a valid date in the format YYYY-MM-DD"
            return None, _error("date_parsing", p.name, msg, raw)
    if p.kind == "json":
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            msg = 'Value error, metadata must be a JSON object of strings, e.g. {"env": "prod"}'
            return None, _error("value_error", p.name, msg, raw, {"error": {}})
        return parsed, None
    raise AssertionError(p.kind)


def parse_query(kind: str, params: dict[str, str]) -> Query | list[dict[str, Any]]:
    """A Query, or the list of validation errors for a 422."""
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for p in PARAMS[kind]:
        raw = params.get(p.name)
        if raw is None:
            continue
        value, error = _convert(p, raw)
        if error is not None:
            errors.append(error)
        elif value is not None and p.kind != "sort":
            values[p.name] = value
    if errors:
        return errors
    if "fields" in values:
        values["fields"] = tuple(f.strip() for f in values["fields"].split(",") if f.strip()) or None
    if "search" in values:
        values["search"] = values["search"].lower()
    return Query(kind=kind, **values)
