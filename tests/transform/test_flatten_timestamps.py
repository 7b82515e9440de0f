"""Timestamps: any offset and 1-9 fractional digits become UTC instants; a local time is never guessed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest
from flatten_records import DAY, SYNCED_AT, run_record

from pipelines.transform import flatten_workflow_runs
from pipelines.transform.timestamps import parse_instants

ACCEPTED = [
    ("2026-05-01T13:55:00Z", "2026-05-01T13:55:00"),
    ("2026-05-01T13:55:00+00:00", "2026-05-01T13:55:00"),
    ("2026-05-01T15:55:00+02:00", "2026-05-01T13:55:00"),
    ("2026-05-01T08:25:00-05:30", "2026-05-01T13:55:00"),
    ("2026-05-02T01:55:00+1200", "2026-05-01T13:55:00"),
    ("2026-05-01T13:55:00.5Z", "2026-05-01T13:55:00.500000"),
    ("2026-05-01T13:55:00.123Z", "2026-05-01T13:55:00.123000"),
    ("2026-05-01T13:55:00.123456Z", "2026-05-01T13:55:00.123456"),
    ("2026-05-01T13:55:00.1234567Z", "2026-05-01T13:55:00.123456"),
    ("2026-05-01T13:55:00.123456789+01:00", "2026-05-01T12:55:00.123456"),
    ("2026-05-01 13:55:00Z", "2026-05-01T13:55:00"),
]


@pytest.mark.parametrize(("text", "utc"), ACCEPTED, ids=[text for text, _ in ACCEPTED])
def test_offsets_and_fractions_parse_to_the_utc_instant(text: str, utc: str) -> None:
    instants, problems = parse_instants(pa.array([text]))
    assert problems == {}
    assert instants[0].as_py() == datetime.fromisoformat(utc).replace(tzinfo=UTC)


REFUSED = [
    ("2026-05-01T13:55:00", "has no UTC offset"),
    ("2026-05-01T13:55:00.123456", "has no UTC offset"),
    ("2026-05-01", "has no UTC offset"),
    ("yesterday", "is not an ISO-8601 timestamp"),
    ("", "is not an ISO-8601 timestamp"),
    ("2026-02-30T00:00:00Z", "is not an ISO-8601 timestamp"),
    ("2026-05-01T24:00:00Z", "is not an ISO-8601 timestamp"),
    ("2026-05-01T13:55:00.1234567890Z", "is not an ISO-8601 timestamp"),
    (" 2026-05-01T13:55:00Z", "is not an ISO-8601 timestamp"),
]


@pytest.mark.parametrize(("text", "problem"), REFUSED, ids=[text or "empty" for text, _ in REFUSED])
def test_unparseable_and_offsetless_strings_are_named_not_guessed(text: str, problem: str) -> None:
    instants, problems = parse_instants(pa.array(["2026-05-01T00:00:00Z", text, None]))
    assert list(problems) == [1]
    assert problem in problems[1]
    assert instants.to_pylist() == [datetime(2026, 5, 1, tzinfo=UTC), None, None]


def test_many_bad_strings_among_good_ones_are_each_found() -> None:
    texts = ["2026-05-01T00:00:00Z"] * 1000
    bad = {3, 64, 65, 500, 999}
    for position in bad:
        texts[position] = "2026-05-01T00:00:00"
    instants, problems = parse_instants(pa.array(texts))
    assert set(problems) == bad
    assert instants.null_count == len(bad)


def test_created_date_is_the_utc_date_not_the_local_one() -> None:
    late_local = run_record("run_1")
    late_local["timing"]["created_at"] = "2026-04-30T22:30:00-02:00"  # 00:30 UTC on May 1
    early_local = run_record("run_2")
    early_local["timing"]["created_at"] = "2026-05-02T01:30:00+03:00"  # 22:30 UTC on May 1
    batch = flatten_workflow_runs([late_local, early_local], day=DAY, synced_at=SYNCED_AT)
    rows = batch.tables["workflow_runs"].to_pylist()
    assert [row["created_date"] for row in rows] == [date(2026, 5, 1), date(2026, 5, 1)]
    assert [row["created_at"] for row in rows] == [
        datetime(2026, 5, 1, 0, 30, tzinfo=UTC),
        datetime(2026, 5, 1, 22, 30, tzinfo=UTC),
    ]
    assert batch.rejected == 0


def test_a_run_created_on_another_utc_day_is_rejected_naming_both_days() -> None:
    record = run_record("run_1")
    record["timing"]["created_at"] = "2026-05-01T23:30:00-05:00"  # 04:30 UTC on May 2
    batch = flatten_workflow_runs([record, run_record("run_2")], day=DAY, synced_at=SYNCED_AT)
    assert batch.rows == 1
    (rejected,) = batch.tables["rejected_records"].to_pylist()
    assert rejected["record_id"] == "run_1"
    assert "2026-05-02" in rejected["reason"] and "2026-05-01" in rejected["reason"]
    assert rejected["reason"].startswith("timing.created_at:")
