"""The Dagster code location (`dagster dev` finds it through [tool.dagster] in pyproject.toml)."""

import dagster as dg

from assets import analytics, checks, retab
from assets.resources import RetabApiResource, WarehouseResource
from assets.schedules import retab_nightly, retab_reconcile, retab_today, sync_job

# Modules whose assets and asset checks make up the code location; the analytics assets join here.
ASSET_MODULES = [retab, checks, analytics]

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(ASSET_MODULES),
    asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
    jobs=[sync_job],
    schedules=[retab_nightly, retab_reconcile, retab_today],
    # Refreshes the analytics views after the raw assets sync (on by default; see assets/analytics.py).
    sensors=[analytics.analytics_automation],
    # Steps run one after another in the run's own process: every step opens the one DuckDB file, so
    # they could not run in parallel anyway (pool "retab_warehouse", limit 1), and a process per step
    # would add seconds of start-up to each. Days are fetched concurrently inside the sync step.
    executor=dg.in_process_executor,
    resources={
        # EnvVar: resolved when a run starts, shown in the UI by name only, never by value.
        "retab_api": RetabApiResource(api_key=dg.EnvVar("RETAB_API_KEY")),
        "warehouse": WarehouseResource(),
    },
)
