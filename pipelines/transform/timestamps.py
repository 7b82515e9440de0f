"""Vectorised parsing of ISO-8601 timestamps with an explicit UTC offset into UTC instants.

    strings ──cast──▶ timestamp[us, UTC]            one C++ pass: the common case
       │ fails
       ▼
    truncate fractions of 7-9 digits to 6 ──cast──▶ ok: done
       │ fails
       ▼
    bisect to the failing elements, null them, name the problem of each

Arrow's parser is the one authority on what parses: `Z`, `+02:00`, `+0200`, `-05:30`, a `T` or a
space between date and time, 0-9 fractional digits (microseconds kept, the rest truncated). A string
without an offset is never guessed to be UTC: it fails, and its problem says so.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

UTC_MICROS = pa.timestamp("us", tz="UTC")

_EXTRA_FRACTION_DIGITS = r"(:\d\d\.\d{6})\d{1,3}(\D|$)"
_NO_OFFSET = re.compile(r"\d{4}-\d\d-\d\d(?:[T ]\d\d(?::\d\d(?::\d\d(?:\.\d+)?)?)?)?")
_BISECT_BELOW = 16


def parse_instants(values: pa.Array) -> tuple[pa.TimestampArray, dict[int, str]]:
    """Strings to UTC instants; the unparseable become null, their problems returned by position.

    >>> parse_instants(pa.array(["2026-05-01T13:55:00+02:00", "2026-05-01T13:55:00"]))[1]
    {1: "'2026-05-01T13:55:00' has no UTC offset (a local time is never guessed)"}
    """
    try:
        return values.cast(UTC_MICROS), {}
    except pa.ArrowInvalid:
        pass
    original = values
    values = pc.replace_substring_regex(values, pattern=_EXTRA_FRACTION_DIGITS, replacement=r"\1\2")
    try:
        return values.cast(UTC_MICROS), {}
    except pa.ArrowInvalid:
        pass
    bad: list[int] = []
    _collect_failures(values, 0, bad)
    mask = [False] * len(values)
    for position in bad:
        mask[position] = True
    cleared = pc.if_else(pa.array(mask, pa.bool_()), pa.scalar(None, pa.string()), values)
    problems = {position: describe_failure(original[position].as_py()) for position in bad}
    return cleared.cast(UTC_MICROS), problems


def describe_failure(text: str) -> str:
    """Say why a string is not an instant, quoting it (shortened)."""
    shown = repr(text if len(text) <= 60 else text[:57] + "...")
    if _NO_OFFSET.fullmatch(text):
        return f"{shown} has no UTC offset (a local time is never guessed)"
    return f"{shown} is not an ISO-8601 timestamp with a UTC offset"


def _collect_failures(values: pa.Array, offset: int, out: list[int]) -> None:
    """Append the positions (plus offset) of elements that do not cast, by bisection."""
    try:
        values.cast(UTC_MICROS)
        return
    except pa.ArrowInvalid:
        pass
    if len(values) <= _BISECT_BELOW:
        for i in range(len(values)):
            try:
                values.slice(i, 1).cast(UTC_MICROS)
            except pa.ArrowInvalid:
                out.append(offset + i)
        return
    half = len(values) // 2
    _collect_failures(values.slice(0, half), offset, out)
    _collect_failures(values.slice(half), offset + half, out)


def created_key(record: object) -> str | None:
    """A record's `timing.created_at` as a sortable UTC string (microseconds), None if unreadable.

    The two ends of a walk compare records by it (pipelines.extract.walks), whatever form each
    record writes its timestamp in.
    """
    timing = record.get("timing") if isinstance(record, dict) else None
    text = timing.get("created_at") if isinstance(timing, dict) else None
    if not isinstance(text, str):
        return None
    try:
        instant = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace(" ", "T", 1))
    except ValueError:
        return None
    if instant.tzinfo is None:
        return None
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
