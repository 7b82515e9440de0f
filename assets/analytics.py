"""The analytics views (schema `analytics`) as Dagster assets, downstream of the raw tables they read.

One asset per view, key `analytics/<view>`, all made by one step (`analytics_views`, in the warehouse
pool): `create_views` recreates every view on a short writer connection (idempotent), then a read-only
connection reports each selected view's figures as its materialization's metadata:
`dagster/row_count`, `preview` (markdown, the view's first rows), `dagster/column_schema`, and the
view's numbers (failure_rate, p95_duration_ms, mean_score, ...) as int or float so that the UI plots
their history. A figure that is NULL (no data yet) is left out rather than reported as 0.

Trigger: `AFTER_SYNC`, an automation condition: run once the raw assets have been updated (any
partition), none of them is still in progress (a nightly is one run per endpoint: wait for both), and
their blocking checks passed. `eager()` would never fire here: it also waits until no dependency
partition is missing, and the daily partitions always include days never synced (today's, older
ones). Automation conditions are evaluated by a sensor; Dagster's default one starts stopped, so this
module declares `analytics_automation`, running by default, for the Definitions' `sensors`.
"""

import re
from collections.abc import Iterator
from typing import Any

import dagster as dg
import duckdb

from assets.resources import WarehouseResource
from assets.retab import ENDPOINT_KEYS, POOL, column_schema
from pipelines.errors import WarehouseFileError
from pipelines.load.connections import open_writer
from pipelines.load.partitions import PARTITION_TABLES
from pipelines.load.views import SCHEMA, VIEWS, VIEWS_BY_NAME, View, create_views, view_summary

GROUP = "analytics"
PREVIEW_ROWS = 10
RAW_SCHEMA = "retab"

# Which asset writes each raw table: retab.workflow_run_documents comes with the workflow runs.
TABLE_ASSETS: dict[str, dg.AssetKey] = {
    table.name: ENDPOINT_KEYS[endpoint] for endpoint, tables in PARTITION_TABLES.items() for table in tables
}

AFTER_SYNC = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
).with_label("after_sync")

_REFERENCE = re.compile(rf"\b({RAW_SCHEMA}|{SCHEMA})\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_SKIPPED_TOKENS = {duckdb.token_type.comment, duckdb.token_type.string_const}


def view_key(view: View | str) -> dg.AssetKey:
    """The asset key of a view, e.g. analytics/trigger_mix."""
    return dg.AssetKey([SCHEMA, view if isinstance(view, str) else view.name])


def references(sql: str) -> set[tuple[str, str]]:
    """The (schema, name) pairs of schemas retab and analytics in `sql`, outside comments and strings."""
    tokens = duckdb.tokenize(sql)
    code = "".join(
        sql[start : tokens[i + 1][0] if i + 1 < len(tokens) else len(sql)]
        for i, (start, kind) in enumerate(tokens)
        if kind not in _SKIPPED_TOKENS
    )
    return {(schema, name) for schema, name in _REFERENCE.findall(code)}


def view_reads(view: View) -> tuple[set[str], set[str]]:
    """The raw tables (schema retab) a view reads, through the views it reads, and the views it reads."""
    named = references(view.path.read_text(encoding="utf-8")) - {(SCHEMA, view.name)}
    views = {name for schema, name in named if schema == SCHEMA}
    tables = {name for schema, name in named if schema == RAW_SCHEMA}
    for name in views:
        tables |= view_reads(VIEWS_BY_NAME[name])[0]
    return tables, views


def view_deps(view: View) -> list[dg.AssetKey]:
    """The raw assets whose tables a view reads (directly or through other views), then those views."""
    tables, views = view_reads(view)
    unknown = sorted(tables - TABLE_ASSETS.keys())
    if unknown:
        raise ValueError(
            f"{view.path.name} reads {', '.join(f'{RAW_SCHEMA}.{t}' for t in unknown)}, which no asset "
            f"writes: map the table to its asset in assets/analytics.py"
        )
    raw = sorted({TABLE_ASSETS[table] for table in tables}, key=lambda key: key.to_user_string())
    return [*raw, *(view_key(name) for name in sorted(views))]


def view_description(view: View) -> str:
    """The SQL file's leading comment, as prose."""
    lines = []
    for line in view.path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        lines.append(line.removeprefix("--").strip())
    return " ".join(lines) or f"The view {view.qualified_name}."


def view_spec(view: View) -> dg.AssetSpec:
    """The asset of one view: its lineage, description and trigger."""
    return dg.AssetSpec(
        key=view_key(view),
        group_name=GROUP,
        deps=view_deps(view),
        description=view_description(view),
        kinds={"duckdb", "view"},
        metadata={
            "dagster/table_name": view.qualified_name,
            "dagster/column_schema": column_schema(view.qualified_name),
            "sql_file": f"pipelines/load/sql/views/{view.path.name}",
        },
        automation_condition=AFTER_SYNC,
    )


def view_metadata(summary: dict[str, Any], columns: list[tuple[str, str]]) -> dict[str, Any]:
    """A view's materialization metadata: row count, markdown preview, columns and numeric figures."""
    metadata: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(int(summary["row_count"])),
        "preview": dg.MetadataValue.md(summary["preview"]),
        "dagster/column_schema": dg.MetadataValue.table_schema(
            dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns])
        ),
    }
    for name, value in summary.items():
        if name in ("row_count", "preview") or value is None:
            continue
        metadata[name] = (
            dg.MetadataValue.int(value) if isinstance(value, int) else dg.MetadataValue.float(float(value))
        )
    return metadata


def view_columns(con: duckdb.DuckDBPyConnection, view: View) -> list[tuple[str, str]]:
    """(name, type) of a view's columns."""
    return [(str(row[0]), str(row[1])) for row in con.execute(f"DESCRIBE {view.qualified_name}").fetchall()]


@dg.multi_asset(
    name="analytics_views",
    specs=[view_spec(view) for view in VIEWS],
    can_subset=True,
    pool=POOL,
    description="Recreate the analytics views (idempotent) and report each selected view's figures.",
)
def analytics_views(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    selected = [view for view in VIEWS if view_key(view) in context.selected_asset_keys]
    path = warehouse.file()
    try:
        with open_writer(path, lock_wait=warehouse.lock_wait) as con:
            create_views(con)
        with warehouse.reader() as con:
            results = [
                (view, view_summary(con, view.name, preview_rows=PREVIEW_ROWS), view_columns(con, view))
                for view in selected
            ]
    except WarehouseFileError as error:  # locked or unreachable: a retry may help; unreadable: no
        raise dg.Failure(description=str(error), allow_retries=error.retryable) from None
    for view, summary, columns in results:
        context.log.info(f"{view.qualified_name}: {summary['row_count']} row(s)")
        yield dg.MaterializeResult(asset_key=view_key(view), metadata=view_metadata(summary, columns))


analytics_automation = dg.AutomationConditionSensorDefinition(
    "retab_analytics_automation",
    target=dg.AssetSelection.groups(GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Refresh the analytics views' figures once a sync has updated the raw tables (AFTER_SYNC).",
)
