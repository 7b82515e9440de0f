"""The sync job and its schedules: nightly (yesterday + days still settling) and, optionally, today.

Nightly at 02:15 UTC, running by default: for each endpoint, yesterday plus every day within the
lookback that is not settled (`load.unsettled_days`): it holds unfinished runs or its last sync
failed, or its last sync started before the day was over (a partial day, e.g. from the
`retab_today` schedule, whose nightly sync was missed). Consecutive days become one single-run
range, so a typical night is one run per endpoint, and late status changes land without manual work.
"""

import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

import dagster as dg

from assets.partitions import contiguous_ranges, day_key, range_tags
from assets.resources import WarehouseResource
from assets.retab import ENDPOINT_KEYS, GROUP
from pipelines.config import TODAY_EVERY_ENV, partitions_start, today_every_minutes
from pipelines.endpoints import ENDPOINTS
from pipelines.errors import WarehouseLocked, WarehouseMissing, WarehouseUnreadable
from pipelines.load.partitions import unsettled_days

NIGHTLY_CRON = "15 2 * * *"
SCHEDULE_LOCK_WAIT = 20.0  # a tick must answer well within Dagster's schedule timeout

sync_job = dg.define_asset_job(
    "retab_sync",
    selection=dg.AssetSelection.groups(GROUP),
    description="Sync Retab days into DuckDB: the assets of group 'retab' and their checks.",
)


def nightly_days(
    yesterday: date, open_days: Mapping[str, Sequence[date]], first_day: date
) -> dict[str, list[date]]:
    """Per endpoint: yesterday and the open days before it, none before the first partition."""
    return {
        endpoint: sorted(day for day in {yesterday, *days} if first_day <= day <= yesterday)
        for endpoint, days in open_days.items()
    }


def read_unsettled_days(
    warehouse: WarehouseResource, today: date, log: logging.Logger | None = None
) -> dict[str, list[date]]:
    """Days within the lookback that are not settled; none when the file cannot be read."""
    since = today - timedelta(days=warehouse.lookback_days)
    try:
        with warehouse.reader(lock_wait=min(warehouse.lock_wait, SCHEDULE_LOCK_WAIT)) as con:
            return {name: unsettled_days(con, name, since) for name in ENDPOINTS}
    except WarehouseMissing:
        return {name: [] for name in ENDPOINTS}
    except (WarehouseLocked, WarehouseUnreadable) as error:
        if log is not None:
            log.warning(f"syncing yesterday only; could not read the open days: {error}")
        return {name: [] for name in ENDPOINTS}


def nightly_run_requests(
    scheduled: datetime, warehouse: WarehouseResource, log: logging.Logger | None = None
) -> list[dg.RunRequest]:
    """One single-run range per endpoint and run of consecutive days to (re-)sync."""
    today = scheduled.date()
    unsettled = read_unsettled_days(warehouse, today, log)
    plan = nightly_days(today - timedelta(days=1), unsettled, partitions_start())
    requests = []
    for endpoint, days in plan.items():
        key = ENDPOINT_KEYS[endpoint]
        for first, last in contiguous_ranges(days):
            requests.append(
                dg.RunRequest(
                    run_key=f"nightly:{today}:{key.to_user_string()}:{first}...{last}",
                    asset_selection=[key],
                    tags={**range_tags(first, last), "retab/trigger": "nightly"},
                )
            )
    return requests


@dg.schedule(
    name="retab_nightly",
    cron_schedule=NIGHTLY_CRON,
    execution_timezone="UTC",
    job=sync_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="02:15 UTC: sync yesterday, and re-sync the days of the lookback that are not settled.",
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
    return dg.RunRequest(partition_key=day_key(today), tags={"retab/trigger": "today"})
