"""The Retab sync assets: one partition per UTC day, filled by the same engine as the CLI
(`pipelines.sync.orchestrator.sync`).

A run tagged `retab/mode` (the schedules) brings its days up to date at the least cost
(pipelines.sync.plan); a run without it (a UI launch or backfill) walks each day again.
A range of days (a backfill) is one run and one step (BackfillPolicy.single_run): the engine fetches
`concurrency` days at once and commits each day in its own transaction as it completes. Every
asset and check that opens the DuckDB file is in pool "retab_warehouse" (limit 1 in dagster.yaml),
because DuckDB allows one writer per file.
"""

import dagster as dg

from assets.materializations import PartitionRecorder
from assets.partitions import DAILY, MODE_TAG
from assets.resources import RetabApiResource, WarehouseResource
from pipelines.endpoints import ENDPOINTS, EXPERIMENT_RUNS, WORKFLOW_RUNS, Endpoint
from pipelines.load.contract import documented_columns
from pipelines.sync.orchestrator import sync
from pipelines.sync.plan import REFRESH

GROUP = "retab"
POOL = "retab_warehouse"
ENDPOINT_KEYS: dict[str, dg.AssetKey] = {e.name: dg.AssetKey(list(e.asset_key)) for e in ENDPOINTS.values()}
WORKFLOW_RUNS_KEY = ENDPOINT_KEYS[WORKFLOW_RUNS.name]
EXPERIMENT_RUNS_KEY = ENDPOINT_KEYS[EXPERIMENT_RUNS.name]


def column_schema(table: str) -> dg.TableSchema:
    """A table's or view's columns with their types and meanings, from the table contract."""
    columns = documented_columns()[table]
    return dg.TableSchema(
        columns=[dg.TableColumn(name=c.name, type=c.type, description=c.meaning) for c in columns]
    )


def sync_asset(endpoint: Endpoint, key: dg.AssetKey, description: str) -> dg.AssetsDefinition:
    """A daily-partitioned asset that syncs one endpoint's days into retab.<table>."""

    @dg.asset(
        key=key,
        group_name=GROUP,
        description=description,
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=POOL,
        kinds={"duckdb"},
        metadata={
            "table": f"retab.{endpoint.table}",
            "dagster/table_name": f"retab.{endpoint.table}",
            "dagster/column_schema": column_schema(f"retab.{endpoint.table}"),
            "api_path": endpoint.path,
        },
    )
    def _sync(
        context: dg.AssetExecutionContext, retab_api: RetabApiResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        recorder = PartitionRecorder(context, endpoint, retab_api, warehouse)
        mode = context.run.tags.get(MODE_TAG, REFRESH)
        with recorder.failures():
            report = sync(
                recorder.settings,
                [endpoint],
                recorder.days_to_fetch(),
                mode=mode,
                on_partition=recorder.record,
            )
        return recorder.result(report)

    return _sync


retab_workflow_runs = sync_asset(
    WORKFLOW_RUNS,
    WORKFLOW_RUNS_KEY,
    "Workflow runs (GET /v1/workflows/runs) by UTC day of created_at, in retab.workflow_runs and "
    "retab.workflow_run_documents. Each day is replaced in one transaction.",
)
retab_experiment_runs = sync_asset(
    EXPERIMENT_RUNS,
    EXPERIMENT_RUNS_KEY,
    "Experiment runs (GET /v1/workflows/experiments/runs) by UTC day of created_at, in "
    "retab.experiment_runs. Each day is replaced in one transaction.",
)
