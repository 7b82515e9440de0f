"""UTC-day partitions: the one partitions definition, and day <-> partition-key conversions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

import dagster as dg

from pipelines.config import partitions_start

# Dagster's run tags for a single partition and for a single-run range of partitions.
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# How a run's days are synced (pipelines.sync.plan): "incremental" (the schedules' nightly and
# today runs), "reconcile"; without the tag (a UI launch or backfill) every day is walked again.
MODE_TAG = "retab/mode"


def daily_partitions(start: date) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day from `start`; end_offset=1 keeps today's partial day launchable."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1)


DAILY = daily_partitions(partitions_start())


def day_key(day: date) -> str:
    """The partition key of a UTC day."""
    return day.isoformat()


def key_days(keys: Iterable[str]) -> list[date]:
    """The UTC days of partition keys, in order."""
    return sorted(date.fromisoformat(key) for key in keys)


def contiguous_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Group days into inclusive (first, last) runs of consecutive days.

    >>> ranges = contiguous_ranges([date(2026, 5, 3), date(2026, 5, 2), date(2026, 5, 7)])
    >>> [(str(first), str(last)) for first, last in ranges]
    [('2026-05-02', '2026-05-03'), ('2026-05-07', '2026-05-07')]
    """
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run materialize every partition from `first` to `last`."""
    return {RANGE_START_TAG: day_key(first), RANGE_END_TAG: day_key(last)}


def run_days(tags: Mapping[str, str]) -> list[date] | None:
    """The days a run targets according to its tags, or None for a run without partitions."""
    if PARTITION_TAG in tags and RANGE_START_TAG not in tags:
        return [date.fromisoformat(tags[PARTITION_TAG])]
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        first, last = date.fromisoformat(tags[RANGE_START_TAG]), date.fromisoformat(tags[RANGE_END_TAG])
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return None
