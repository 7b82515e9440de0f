"""The sync job and its schedules: nightly, weekly reconciliation, and, optionally, today.

Nightly at 02:15 UTC, running by default: the days `retab-warehouse sync` (no dates) would bring up
to date (`pipelines.sync.orchestrator.nightly_days`, the one definition): every day since the last
complete one up to today, every day holding open runs (any age, within an optional horizon),
every day whose last attempt failed. Consecutive days become one single-run range; the runs are
tagged incremental, so each day costs what `pipelines.sync.plan` says (a tail walk, a GET per open
run, or nothing). Weekly (Sunday 03:30 UTC), `retab_reconcile` re-walks the last 30 settled days
and reports what changed (deletions, re-scored experiment runs).
"""

import logging
from datetime import date, datetime, timedelta

import dagster as dg

from assets.partitions import MODE_TAG, contiguous_ranges, day_key, range_tags
from assets.resources import WarehouseResource
from assets.retab import ENDPOINT_KEYS, GROUP
from pipelines.config import TODAY_EVERY_ENV, partitions_start, today_every_minutes
from pipelines.endpoints import ENDPOINTS
from pipelines.errors import WarehouseFileError, WarehouseMissing
from pipelines.sync.orchestrator import nightly_days
from pipelines.sync.plan import DEFAULT_RECONCILE_DAYS, INCREMENTAL, RECONCILE

NIGHTLY_CRON = "15 2 * * *"
RECONCILE_CRON = "30 3 * * 0"
SCHEDULE_LOCK_WAIT = 20.0  # a tick must answer well within Dagster's schedule timeout

sync_job = dg.define_asset_job(
    "retab_sync",
    selection=dg.AssetSelection.groups(GROUP),
    description="Sync Retab days into DuckDB: the assets of group 'retab' and their checks.",
)


def read_unsettled_days(
    warehouse: WarehouseResource, today: date, log: logging.Logger | None = None
) -> dict[str, list[date]]:
    """The days the nightly brings up to date, per endpoint; none when the file cannot be read."""
    try:
        with warehouse.reader(lock_wait=min(warehouse.lock_wait, SCHEDULE_LOCK_WAIT)) as con:
            return nightly_days(
                con, list(ENDPOINTS.values()), today, horizon_days=warehouse.settle_horizon_days
            )
    except WarehouseMissing:
        return {name: [] for name in ENDPOINTS}
    except WarehouseFileError as error:
        if log is not None:
            log.warning(f"syncing yesterday only; could not read the warehouse's days: {error}")
        return {name: [] for name in ENDPOINTS}


def nightly_run_requests(
    scheduled: datetime, warehouse: WarehouseResource, log: logging.Logger | None = None
) -> list[dg.RunRequest]:
    """One single-run range per endpoint and run of consecutive days to (re-)sync."""
    today = scheduled.date()
    yesterday = today - timedelta(days=1)
    unsettled = read_unsettled_days(warehouse, today, log)
    first = partitions_start()
    plan = {
        name: sorted({d for d in {yesterday, *days} if first <= d <= today})
        for name, days in unsettled.items()
    }
    requests = []
    for endpoint, days in plan.items():
        key = ENDPOINT_KEYS[endpoint]
        for first, last in contiguous_ranges(days):
            requests.append(
                dg.RunRequest(
                    run_key=f"nightly:{today}:{key.to_user_string()}:{first}...{last}",
                    asset_selection=[key],
                    tags={**range_tags(first, last), "retab/trigger": "nightly", MODE_TAG: INCREMENTAL},
                )
            )
    return requests


@dg.schedule(
    name="retab_nightly",
    cron_schedule=NIGHTLY_CRON,
    execution_timezone="UTC",
    job=sync_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="02:15 UTC: what `retab-warehouse sync` does: new days, open runs of any age, failed days.",
)
def retab_nightly(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource) -> list[dg.RunRequest]:
    return nightly_run_requests(context.scheduled_execution_time, warehouse, context.log)


def every_minutes_cron(minutes: int) -> str:
    """A cron expression firing every `minutes` minutes of each hour (60: on the hour)."""
    return "0 * * * *" if minutes == 60 else f"*/{minutes} * * * *"


@dg.schedule(
    name="retab_today",
    cron_schedule=every_minutes_cron(today_every_minutes()),
    execution_timezone="UTC",
    job=sync_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=f"Every ${TODAY_EVERY_ENV} minutes (default 30): sync today's partial day. Off by default.",
)
def retab_today(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    today = context.scheduled_execution_time.date()
    return dg.RunRequest(partition_key=day_key(today), tags={"retab/trigger": "today", MODE_TAG: INCREMENTAL})


def reconcile_run_requests(scheduled: datetime) -> list[dg.RunRequest]:
    """One single-run range per endpoint over the last DEFAULT_RECONCILE_DAYS days before today."""
    today = scheduled.date()
    first = max(partitions_start(), today - timedelta(days=DEFAULT_RECONCILE_DAYS))
    last = today - timedelta(days=1)
    if last < first:
        return []
    return [
        dg.RunRequest(
            run_key=f"reconcile:{today}:{key.to_user_string()}",
            asset_selection=[key],
            tags={**range_tags(first, last), "retab/trigger": "reconcile", MODE_TAG: RECONCILE},
        )
        for key in ENDPOINT_KEYS.values()
    ]


@dg.schedule(
    name="retab_reconcile",
    cron_schedule=RECONCILE_CRON,
    execution_timezone="UTC",
    job=sync_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"Sundays 03:30 UTC: re-walk the last {DEFAULT_RECONCILE_DAYS} days to pick up deleted runs "
    "and changed finished runs (re-scored experiment runs); each day's changes are in its metadata.",
)
def retab_reconcile(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    return reconcile_run_requests(context.scheduled_execution_time)
