"""One asset step's sync: which days to fetch, and one materialization per day with that day's figures.

A single-run range (a 90-day backfill) is one step. Left alone, Dagster writes one materialization
per partition at the end of the step, all with the same metadata. Here each day's own figures
are attached to its own partition as `sync()` commits it:

    sync() ──on_partition(result)──► PartitionRecorder.record
                                       ├─ ok:     context.add_asset_metadata(figures, partition_key=day)
                                       └─ failed: remembered
    step end ── every day ok ──► MaterializeResult(): Dagster writes day D's event with day D's figures
             └─ some failed ──► context.log_event(AssetMaterialization(partition=D)) per committed day,
                                then Failure naming the failed days; those days stay as they were

A re-execution of a run (Dagster's "re-execute from failure", or a run retry after a crash) does
not fetch again the days that the first attempt committed: sync_log says which, and their
figures come from there.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import dagster as dg

from assets.partitions import day_key, key_days
from assets.resources import RetabApiResource, WarehouseResource, sync_settings
from pipelines.config import Settings
from pipelines.endpoints import Endpoint
from pipelines.errors import WarehouseError, WarehouseMissing, classify
from pipelines.figures import FIGURE_FIELDS, PartitionFigures
from pipelines.load.connections import open_reader
from pipelines.sync.orchestrator import PartitionResult, SyncReport


def partition_metadata(result: PartitionFigures, source: str) -> dict[str, Any]:
    """One partition's figures (every field of PartitionFigures), numeric so that the UI plots them."""
    metadata: dict[str, Any] = {}
    for name in FIGURE_FIELDS:
        value = getattr(result, name)
        key = "dagster/row_count" if name == "rows" else name
        if name == "retries_by_cause":
            if value:
                metadata[key] = dg.MetadataValue.json(dict(value))
        elif isinstance(value, bool):
            metadata[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, float):
            metadata[key] = dg.MetadataValue.float(round(value, 3))
        else:
            metadata[key] = dg.MetadataValue.int(value)
    metadata["retries"] = dg.MetadataValue.int(result.retries)
    metadata["source"] = dg.MetadataValue.text(source)
    return metadata


class PartitionRecorder:
    """Turns the PartitionResults of one asset step's sync into that step's Dagster events."""

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        endpoint: Endpoint,
        api: RetabApiResource,
        warehouse: WarehouseResource,
    ) -> None:
        self._context = context
        self._endpoint = endpoint
        self._api = api
        self._warehouse = warehouse
        self._committed: dict[date, PartitionResult] = {}
        self._failed: dict[date, PartitionResult] = {}
        self._settings: Settings | None = None
        self._requested: list[date] = []

    @property
    def settings(self) -> Settings:
        """The engine's settings for this run (MissingApiKey when the key is empty)."""
        if self._settings is None:
            self._settings = sync_settings(self._api, self._warehouse)
        return self._settings

    def days_to_fetch(self) -> list[date]:
        """The run's days, less those an earlier attempt of this run already committed."""
        days = key_days(self._context.partition_keys)
        for result in self._committed_by_earlier_attempt(days):
            self._context.log.info(
                f"{self._endpoint.name} {result.day}: committed by an earlier attempt of this run "
                f"({result.rows} rows); not fetched again"
            )
            self._remember(result)
        self._requested = [day for day in days if day not in self._committed]
        return self._requested

    def record(self, result: PartitionResult) -> None:
        """sync()'s on_partition callback: attach an ok day's figures to its partition, or note a failure."""
        if result.ok:
            self._context.log.info(
                f"{self._endpoint.name} {result.day}: committed {result.rows} rows "
                f"({result.pages} pages, {result.retries} retries, {result.rejected} rejected, "
                f"{result.open_runs} open) in {result.seconds:.1f}s"
            )
            self._remember(result)
        else:
            self._context.log.error(f"{self._endpoint.name} {result.day}: not replaced: {result.error}")
            self._failed[result.day] = result

    @contextmanager
    def failures(self) -> Iterator[None]:
        """Turn the engine's errors into a Dagster Failure with the engine's message (no HTTP stack trace)."""
        try:
            yield
        except WarehouseError as error:  # ours: its class says whether a retry of the run can help
            self._materialize_committed()
            raise dg.Failure(description=str(error), allow_retries=classify(error).retryable) from None
        except BaseException:
            self._materialize_committed()
            raise

    def result(self, report: SyncReport) -> dg.MaterializeResult:
        """The step's result when every day committed; else materialize the committed ones and fail."""
        for partition in report.partitions:  # days a fatal error stopped are reported, not called back
            if partition.day not in self._committed and partition.day not in self._failed:
                self.record(partition)
        for day in self._requested:
            if day not in self._committed and day not in self._failed:
                self.record(PartitionResult(self._endpoint.name, day, ok=False, error="not synced"))
        if not self._failed:
            return dg.MaterializeResult()
        self._materialize_committed()
        raise dg.Failure(
            description=failure_description(
                self._endpoint, list(self._failed.values()), len(self._committed)
            ),
            metadata={
                "failed_days": dg.MetadataValue.int(len(self._failed)),
                "committed_days": dg.MetadataValue.int(len(self._committed)),
                "failed": dg.MetadataValue.json(
                    {day_key(d): r.error for d, r in sorted(self._failed.items())}
                ),
            },
        )

    def _remember(self, result: PartitionResult) -> None:
        self._committed[result.day] = result
        self._context.add_asset_metadata(self._metadata(result), partition_key=day_key(result.day))

    def _metadata(self, result: PartitionResult) -> dict[str, Any]:
        return partition_metadata(result, self.settings.base_url)

    def _materialize_committed(self) -> None:
        """Write the committed days' materializations now: the step will not produce its output."""
        for day, result in sorted(self._committed.items()):
            self._context.log_event(
                dg.AssetMaterialization(
                    asset_key=self._context.asset_key, partition=day_key(day), metadata=self._metadata(result)
                )
            )

    def _committed_by_earlier_attempt(self, days: Sequence[date]) -> list[PartitionResult]:
        """For a re-executed run: the days sync_log shows committed since the first attempt began."""
        run = self._context.run
        if run.parent_run_id is None or not days:
            return []
        root = self._context.instance.get_run_record_by_id(run.root_run_id or run.parent_run_id)
        if root is None:
            return []
        try:
            with open_reader(self.settings.duckdb_path, lock_wait=self.settings.lock_wait) as con:
                return committed_since(con, self._endpoint.name, days, root.create_timestamp)
        except WarehouseMissing:
            return []


def committed_since(con: Any, endpoint: str, days: Sequence[date], since: datetime) -> list[PartitionResult]:
    """Days whose latest sync attempt started at or after `since` and committed, with its figures."""
    cursor = con.execute(
        f"""
        SELECT day, {", ".join(FIGURE_FIELDS)}
        FROM (
            SELECT *, row_number() OVER (PARTITION BY day ORDER BY started_at DESC) AS n
            FROM retab.sync_log
            WHERE endpoint = ? AND day IN (SELECT unnest(?::DATE[])) AND started_at >= ?
        )
        WHERE n = 1 AND outcome = 'ok'
        ORDER BY day
        """,
        [endpoint, list(days), since],
    )
    names = [d[0] for d in cursor.description]
    results = []
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        figures = PartitionFigures.from_columns(row)
        results.append(PartitionResult(endpoint=endpoint, day=row["day"], ok=True, **vars(figures)))
    return results


def failure_description(endpoint: Endpoint, failed: Sequence[PartitionResult], committed: int) -> str:
    """What failed, what was kept, and how to re-launch only the failed days."""
    lines = [
        f"{len(failed)} day(s) of {endpoint.name} failed and were left as they were; the {committed} "
        f"day(s) committed in this run are materialized and stay so. To fetch only the failed days, "
        f"launch a backfill of the failed partitions (UI: Materialize... > 'Failed and missing'), or "
        f"re-execute this run from failure.",
    ]
    lines += [f"  {result.day}: {result.error}" for result in sorted(failed, key=lambda r: r.day)]
    return "\n".join(lines)
