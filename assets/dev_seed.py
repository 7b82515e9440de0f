"""The initial sync of `retab-warehouse dev`: real runs in the dev instance, so the UI shows what it synced.

    seed_instance(first, last)
      ├─ run retab_sync over the days a raw asset has not materialized (one single-run range):
      │    one materialization per raw asset and synced day, with that day's figures
      └─ run the analytics views' step when days were synced or a view was never materialized:
           one materialization per view, with its row count and figures

Both are ordinary runs in the instance at $DAGSTER_HOME, so the UI lists them with their logs, and the
views' automation sensor, whose first tick sees nothing new, does not run them again.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from typing import Any

import dagster as dg

# The code location's modules are imported in the functions: they read RETAB_PARTITIONS_START on
# import, which run_dev sets first.
QUIET: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def seed_instance(first: date, last: date) -> int:
    """Sync the days from `first` to `last` not yet materialized, then the views; return the days synced."""
    with dg.DagsterInstance.get() as instance:
        count, ok = sync_missing_days(instance, first, last)
        if count or never_materialized_views(instance):
            ok = materialize_views(instance) and ok
    if not ok:
        print("  (the seed sync failed; see its run in the UI)", file=sys.stderr)
    return count


def sync_missing_days(instance: dg.DagsterInstance, first: date, last: date) -> tuple[int, bool]:
    """One retab_sync run from the first day a raw asset lacks to `last`; (days requested, success)."""
    from assets.definitions import defs
    from assets.partitions import range_tags
    from assets.retab import ENDPOINT_KEYS

    wanted = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    done = [set(instance.get_materialized_partitions(key)) for key in ENDPOINT_KEYS.values()]
    missing = [day for day in wanted if any(day.isoformat() not in keys for keys in done)]
    if not missing:
        return 0, True
    result = defs.resolve_job_def("retab_sync").execute_in_process(
        run_config=QUIET, instance=instance, tags=range_tags(missing[0], last), raise_on_error=False
    )
    return len(wanted) - wanted.index(missing[0]), result.success


def view_keys() -> list[dg.AssetKey]:
    """The asset keys of the analytics views."""
    from assets.analytics import view_key
    from pipelines.load.views import VIEWS

    return [view_key(view) for view in VIEWS]


def never_materialized_views(instance: dg.DagsterInstance) -> list[dg.AssetKey]:
    """The analytics views without any materialization in the instance."""
    return [key for key in view_keys() if instance.get_latest_materialization_event(key) is None]


def materialize_views(instance: dg.DagsterInstance) -> bool:
    """One run of the analytics views' step (recreate the views, report their figures); its success."""
    from assets.definitions import defs

    keys = view_keys()
    job = defs.resolve_implicit_job_def_def_for_assets(keys)
    if job is None:
        raise LookupError("no implicit asset job holds the analytics views")
    result = job.execute_in_process(
        run_config=QUIET, instance=instance, asset_selection=keys, raise_on_error=False
    )
    return result.success
