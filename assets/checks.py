"""Asset checks on the warehouse tables, read-only, one step per asset (all in the warehouse pool).

| check                      | scope                         | fails when                                  |
| -------------------------- | ----------------------------- | ------------------------------------------- |
| unique_ids                 | whole table                   | an id (a document key) appears twice        |
| created_date_in_partition  | the run's days (else all)     | created_date is not the UTC day of created_at |
| rejected_share             | the run's days (else all)     | a day rejected more than the threshold      |
| partitions_complete        | the run's days (else all)     | a day's last sync did not commit a full walk |
| no_stale_open_runs (WARN)  | whole table                   | open runs the nightly no longer settles     |

The first four are blocking: a downstream asset does not run on data they reject. The evaluation
functions take a DuckDB connection and return a CheckOutcome, so tests run them on a hand-made file.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import dagster as dg
import duckdb

from assets.partitions import run_days
from assets.resources import WarehouseResource
from assets.retab import ENDPOINT_KEYS, POOL
from pipelines.config import REJECTED_SHARE_ENV, rejected_share_max
from pipelines.endpoints import EXPERIMENT_RUNS, WORKFLOW_RUNS, Endpoint
from pipelines.errors import WarehouseMissing
from pipelines.load.partitions import PARTITION_TABLES, quote_ident

SAMPLE = 5  # offending values quoted in a failed check's metadata


@dataclass(frozen=True)
class CheckOutcome:
    """What one check found."""

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scope:
    """What a check looks at: the run's days (None: every day) and the clock for age-based checks."""

    days: list[date] | None
    today: date
    settle_horizon_days: int | None  # None: the nightly settles open runs at any age
    rejected_share_max: float


def _table(name: str) -> str:
    """A table of schema retab, quoted."""
    return f"retab.{quote_ident(name)}"


def _day_filter(column: str, days: Sequence[date] | None) -> tuple[str, list[Any]]:
    """A WHERE clause restricting `column` to the scope's days, with its parameters."""
    if days is None:
        return "TRUE", []
    return f"{column} IN (SELECT unnest(?::DATE[]))", [list(days)]


def unique_ids(con: duckdb.DuckDBPyConnection, endpoint: Endpoint, scope: Scope) -> CheckOutcome:
    """Every run id appears once in its table (and, for workflow runs, every document key once)."""
    found: dict[str, Any] = {}
    samples: dict[str, list[str]] = {}
    for table in PARTITION_TABLES[endpoint.name]:
        key = ", ".join(quote_ident(column) for column in table.key)
        extra, *_ = con.execute(
            f"SELECT count(*) - count(DISTINCT ({key})) FROM {_table(table.name)}"
        ).fetchone() or (0,)
        found[f"{table.name}_duplicates"] = dg.MetadataValue.int(int(extra))
        if extra:
            rows = con.execute(
                f"SELECT concat_ws('/', {key}) AS k, count(*) AS n FROM {_table(table.name)} "
                f"GROUP BY {key} HAVING count(*) > 1 ORDER BY n DESC, k LIMIT {SAMPLE}"
            ).fetchall()
            samples[table.name] = [f"{k} x{n}" for k, n in rows]
    duplicates = sum(value.value for value in found.values())
    if not duplicates:
        return CheckOutcome(True, "every id is unique", found)
    found["examples"] = dg.MetadataValue.json(samples)
    return CheckOutcome(False, f"{duplicates} duplicate key(s) in {', '.join(samples)}", found)


def created_date_in_partition(
    con: duckdb.DuckDBPyConnection, endpoint: Endpoint, scope: Scope
) -> CheckOutcome:
    """Every row's created_date (its partition) is the UTC day of its created_at."""
    where, params = _day_filter("created_date", scope.days)
    misplaced = f"created_date <> CAST(timezone('UTC', created_at) AS DATE) AND {where}"
    count, *_ = con.execute(
        f"SELECT count(*) FROM {_table(endpoint.table)} WHERE {misplaced}", params
    ).fetchone() or (0,)
    metadata: dict[str, Any] = {"misplaced_rows": dg.MetadataValue.int(int(count))}
    if not count:
        return CheckOutcome(True, "every row lies in the partition of its created_at day", metadata)
    rows = con.execute(
        f"SELECT id, created_date, created_at FROM {_table(endpoint.table)} WHERE {misplaced} "
        f"ORDER BY created_date, id LIMIT {SAMPLE}",
        params,
    ).fetchall()
    metadata["examples"] = dg.MetadataValue.json(
        [{"id": i, "created_date": str(d), "created_at": str(t)} for i, d, t in rows]
    )
    return CheckOutcome(
        False, f"{count} row(s) lie in a partition other than their created_at's UTC day", metadata
    )


def rejected_share(con: duckdb.DuckDBPyConnection, endpoint: Endpoint, scope: Scope) -> CheckOutcome:
    """On every day, rejected records are at most the threshold's share of the records listed."""
    loaded_where, loaded_params = _day_filter("created_date", scope.days)
    rejected_where, rejected_params = _day_filter("day", scope.days)
    rows = con.execute(
        f"""
        WITH loaded AS (
            SELECT created_date AS day, count(*) AS n FROM {_table(endpoint.table)}
            WHERE {loaded_where} GROUP BY 1
        ), rejected AS (
            SELECT day, count(*) AS n FROM {_table("rejected_records")}
            WHERE endpoint = ? AND {rejected_where} GROUP BY 1
        )
        SELECT day, coalesce(loaded.n, 0) AS loaded, coalesce(rejected.n, 0) AS rejected
        FROM loaded FULL OUTER JOIN rejected USING (day)
        ORDER BY day
        """,
        [*loaded_params, endpoint.name, *rejected_params],
    ).fetchall()
    shares = [(day, rejected / (loaded + rejected), loaded, rejected) for day, loaded, rejected in rows]
    over = [(day, share) for day, share, _, _ in shares if share > scope.rejected_share_max]
    worst = max(shares, key=lambda s: s[1], default=None)
    metadata: dict[str, Any] = {
        "threshold": dg.MetadataValue.float(scope.rejected_share_max),
        "max_share": dg.MetadataValue.float(round(worst[1], 6) if worst else 0.0),
        "rejected": dg.MetadataValue.int(sum(s[3] for s in shares)),
        "loaded": dg.MetadataValue.int(sum(s[2] for s in shares)),
        "days_over": dg.MetadataValue.int(len(over)),
    }
    if not over:
        return CheckOutcome(True, f"no day rejected more than {scope.rejected_share_max:.2%}", metadata)
    metadata["days"] = dg.MetadataValue.json({str(day): round(share, 6) for day, share in over[:SAMPLE]})
    return CheckOutcome(
        False,
        f"{len(over)} day(s) rejected more than {scope.rejected_share_max:.2%} of their records "
        f"(see retab.rejected_records: the API's record shape may have changed)",
        metadata,
    )


def partitions_complete(con: duckdb.DuckDBPyConnection, endpoint: Endpoint, scope: Scope) -> CheckOutcome:
    """Every day's latest sync attempt committed after walking the listing to its end."""
    where, params = _day_filter("day", scope.days)
    rows = con.execute(
        f"""
        SELECT day, outcome, complete FROM (
            SELECT day, outcome, complete,
                   row_number() OVER (PARTITION BY day ORDER BY started_at DESC) AS n
            FROM {_table("sync_log")} WHERE endpoint = ? AND {where}
        ) WHERE n = 1 ORDER BY day
        """,
        [endpoint.name, *params],
    ).fetchall()
    latest = {day: (outcome, complete) for day, outcome, complete in rows}
    wanted = scope.days if scope.days is not None else sorted(latest)
    problems = {str(day): problem for day in wanted if (problem := _sync_problem(latest.get(day)))}
    metadata: dict[str, Any] = {
        "days_checked": dg.MetadataValue.int(len(wanted)),
        "incomplete_days": dg.MetadataValue.int(len(problems)),
    }
    if not problems:
        return CheckOutcome(True, f"all {len(wanted)} day(s) committed a complete walk", metadata)
    metadata["days"] = dg.MetadataValue.json(dict(list(problems.items())[:SAMPLE]))
    return CheckOutcome(False, f"{len(problems)} day(s) are not completely synced; re-sync them", metadata)


def _sync_problem(latest: tuple[str, bool | None] | None) -> str | None:
    """Why a day's latest sync_log row does not vouch for it, or None when it does."""
    if latest is None:
        return "never synced"
    outcome, complete = latest
    if outcome != "ok":
        return f"last attempt {outcome}"
    if complete is not True:
        return "the walk did not reach the end of the listing"
    return None


STALE_AFTER = timedelta(days=2)  # an open run not looked at for this long: the nightly is not settling it


def no_stale_open_runs(con: duckdb.DuckDBPyConnection, endpoint: Endpoint, scope: Scope) -> CheckOutcome:
    """No open run lies beyond the nightly's reach: older than the settling horizon, or (no horizon)
    not looked at for STALE_AFTER, as when the nightly stopped running."""
    horizon = scope.settle_horizon_days
    if horizon is not None:
        cutoff = scope.today - timedelta(days=horizon)
        where, params = "created_date < ?", [cutoff]
        reach = f"created before {cutoff} (the {horizon}-day horizon)"
    else:
        checked = datetime.combine(scope.today, time(0), tzinfo=UTC) - STALE_AFTER
        where, params = "synced_at < ?", [checked]
        reach = f"not looked at since {checked:%Y-%m-%d %H:%M} UTC"
    rows = con.execute(
        f"""
        SELECT coalesce(status, '(none)') AS status, count(*), min(created_date)
        FROM {_table(endpoint.table)}
        WHERE {where} AND (status IS NULL OR NOT list_contains(?::VARCHAR[], status))
        GROUP BY 1 ORDER BY 2 DESC
        """,
        [*params, sorted(endpoint.terminal_statuses)],
    ).fetchall()
    count = sum(n for _, n, _ in rows)
    metadata: dict[str, Any] = {
        "stale_open_runs": dg.MetadataValue.int(count),
        "cutoff": dg.MetadataValue.text(str(params[0])),
    }
    if not count:
        return CheckOutcome(True, f"no open run {reach}", metadata)
    oldest = min(first for _, _, first in rows)
    metadata["by_status"] = dg.MetadataValue.json({status: n for status, n, _ in rows})
    metadata["oldest_day"] = dg.MetadataValue.text(str(oldest))
    advice = (
        "the nightly no longer settles them; widen the horizon or re-sync their days"
        if horizon is not None
        else "is the nightly schedule running? `retab-warehouse sync` (no dates) settles them"
    )
    return CheckOutcome(False, f"{count} open run(s) {reach} (oldest day {oldest}): {advice}.", metadata)


Evaluation = Callable[[duckdb.DuckDBPyConnection, Endpoint, Scope], CheckOutcome]
CHECKS: dict[str, tuple[Evaluation, bool, str]] = {
    # name: (evaluation, blocking (ERROR) or WARN, description)
    "unique_ids": (unique_ids, True, "Every run id appears once in the table."),
    "created_date_in_partition": (
        created_date_in_partition,
        True,
        "Every row's created_date (its partition) is the UTC day of its created_at.",
    ),
    "rejected_share": (
        rejected_share,
        True,
        f"On every day, rejected records stay under ${REJECTED_SHARE_ENV} (default 1%) of those listed.",
    ),
    "partitions_complete": (
        partitions_complete,
        True,
        "Every day's latest sync committed after walking the listing to its end (retab.sync_log).",
    ),
    "no_stale_open_runs": (
        no_stale_open_runs,
        False,
        "No open run lies beyond the nightly's reach (the settling horizon, or two days unchecked).",
    ),
}


def warehouse_checks(endpoint: Endpoint, asset_key: dg.AssetKey) -> dg.AssetChecksDefinition:
    """The checks of one synced table, evaluated in one step on one read-only connection."""
    specs = [
        dg.AssetCheckSpec(name, asset=asset_key, blocking=blocking, description=description)
        for name, (_, blocking, description) in CHECKS.items()
    ]

    @dg.multi_asset_check(
        name=f"{asset_key.path[-1]}_checks",
        specs=specs,
        can_subset=True,
        pool=POOL,
        description=endpoint.path,
    )
    def _checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        scope = Scope(
            days=run_days(context.run.tags),
            today=datetime.now(UTC).date(),
            settle_horizon_days=warehouse.settle_horizon_days,
            rejected_share_max=rejected_share_max(),
        )
        selected = {key.name for key in context.selected_asset_check_keys}
        try:
            with warehouse.reader() as con:
                outcomes = {
                    name: CHECKS[name][0](con, endpoint, scope) for name in CHECKS if name in selected
                }
        except WarehouseMissing as missing:
            raise dg.Failure(description=str(missing), allow_retries=False) from None
        for name, outcome in outcomes.items():
            yield dg.AssetCheckResult(
                asset_key=asset_key,
                check_name=name,
                passed=outcome.passed,
                severity=dg.AssetCheckSeverity.ERROR if CHECKS[name][1] else dg.AssetCheckSeverity.WARN,
                description=outcome.description,
                metadata=outcome.metadata,
            )

    return _checks


workflow_runs_checks = warehouse_checks(WORKFLOW_RUNS, ENDPOINT_KEYS[WORKFLOW_RUNS.name])
experiment_runs_checks = warehouse_checks(EXPERIMENT_RUNS, ENDPOINT_KEYS[EXPERIMENT_RUNS.name])
