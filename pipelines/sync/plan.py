"""What a sync does to each day, decided from what the warehouse holds (pure: no I/O).

    never committed, or its last walk did not finish ─► WALK (from its checkpoint, if trusted)
    committed before the day was over, or holding open runs ─► the cheapest, in requests, of:
        UPDATE: GET the oldest open runs one by one, and walk the day again from the record
                before some open run to its end (which also brings the runs created since);
                merged by id, a re-read record the walk lacks is gone
        WALK:   the whole day again, when that costs less
    committed after the day was over, nothing open ─► nothing
    asked for by dates (CLI --start/--end, a UI backfill) ─► WALK; due for reconciliation ─► RECONCILE

`sync` with no dates (and the Dagster nightly) plans every day from the first one the warehouse
holds (a fresh one: RETAB_PARTITIONS_START) up to today that needs it, open runs of any age
(within an optional horizon), and, when due, the settled days of the reconcile window.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pipelines.endpoints import Endpoint
from pipelines.load.state import DayState

WALK, UPDATE = "walk", "update"
REFRESH, INCREMENTAL = "refresh", "incremental"  # dates given: walk each, or bring each up to date
RECONCILE = "reconcile"  # a walk of a settled day that reports what it changed
TAIL_GRACE = timedelta(minutes=10)  # a run may appear in its day's listing this late
RECONCILE_EVERY = timedelta(days=7)
DEFAULT_RECONCILE_DAYS = 30


@dataclass(frozen=True)
class DayTask:
    """One (endpoint, day) and what to do to it."""

    endpoint: Endpoint
    day: date
    mode: str  # WALK | UPDATE | RECONCILE
    tail_after: str | None = None  # UPDATE: walk on from this record (None: no tail walk)
    settle_ids: tuple[str, ...] = ()  # UPDATE: open runs to GET
    rewalk_after: datetime | None = None  # UPDATE: the walk re-reads every record created after this:
    # a stored one it does not bring back is gone

    @property
    def walks(self) -> bool:
        """The whole day is walked and replaced."""
        return self.mode != UPDATE


def day_end(day: date) -> datetime:
    """Midnight (UTC) after the day."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def incremental_task(
    endpoint: Endpoint, day: date, state: DayState | None, *, page_limit: int = 100
) -> DayTask | None:
    """The cheapest way to bring a day up to date (None: it is), in requests.

    Open runs cluster at the end of a day (the runs of the last hour), with a few stragglers (long
    reviews) anywhere: the oldest open runs are fetched one GET each, and from some open run on the
    day is walked again to its end, which also brings the new runs. The split is the one that costs
    least; a whole re-walk when even that costs more.
    """
    if state is None or state.committed_at is None:
        return DayTask(endpoint, day, WALK)
    if state.last_outcome != "ok" or not state.last_complete:
        return DayTask(endpoint, day, WALK)
    tail = state.committed_at < day_end(day) + TAIL_GRACE
    if tail and state.tail_cursor is None:  # committed before tail cursors were kept
        return DayTask(endpoint, day, WALK)
    if not tail and not state.open_runs:
        return None
    runs = state.open_runs
    whole = max(1, math.ceil(state.rows / page_limit))
    best_cost, best_split = len(runs) + (1 if tail else 0), len(runs)  # GETs, and a tail page
    for k, run in enumerate(runs):
        cost = k + math.ceil(run.rows_from / page_limit) + (1 if run.rows_from % page_limit == 0 else 0)
        if cost < best_cost:
            best_cost, best_split = cost, k
    if best_cost >= whole:
        return DayTask(endpoint, day, WALK)
    if best_split == len(runs):
        return DayTask(
            endpoint, day, UPDATE, tail_after=state.tail_cursor if tail else None, settle_ids=state.open_ids
        )
    first = runs[best_split]
    if first.before_id is None or first.before_at is None:  # the day's first record is open
        return DayTask(endpoint, day, WALK)
    # Records created after the cursor's record are all walked again, whatever the server's order of
    # ties; open runs tied with it are fetched one by one as well.
    tied = tuple(r.id for r in runs[best_split:] if r.created_at == first.before_at)
    return DayTask(
        endpoint,
        day,
        UPDATE,
        tail_after=first.before_id,
        settle_ids=tuple(r.id for r in runs[:best_split]) + tied,
        rewalk_after=first.before_at,
    )


def nightly_tasks(
    endpoint: Endpoint,
    states: dict[date, DayState],
    *,
    today: date,
    first_day: date,
    horizon_days: int | None = None,
    reconcile_days: int = 0,
    page_limit: int = 100,
) -> list[DayTask]:
    """Every task of a sync with no dates, for one endpoint, oldest day first."""
    # from the first day the warehouse knows (a day between that no sync reached is a gap to fill)
    start = max(min(states), first_day) if states else first_day
    days = {start + timedelta(days=n) for n in range((today - start).days + 1)}
    oldest = today - timedelta(days=horizon_days) if horizon_days is not None else date.min
    days |= {d for d, s in states.items() if s.open_ids and d >= oldest}
    days |= {d for d, s in states.items() if s.last_outcome not in (None, "ok") or not s.last_complete}
    days |= {
        d
        for d, s in states.items()
        if s.committed_at is not None and s.committed_at < day_end(d) + TAIL_GRACE
    }
    tasks: dict[date, DayTask] = {}
    for d in sorted(days):
        state = states.get(d)
        if state is not None and d < oldest:  # beyond the settling horizon: open runs are left alone
            state = dataclasses.replace(state, open_runs=())
        if first_day <= d <= today and (task := incremental_task(endpoint, d, state, page_limit=page_limit)):
            tasks[d] = task
    for n in range(1, reconcile_days + 1):
        d = today - timedelta(days=n)
        if d >= first_day and d in states and (d not in tasks or not tasks[d].walks):
            tasks[d] = DayTask(endpoint, d, RECONCILE)  # its walk also settles what an update would
    return [tasks[d] for d in sorted(tasks)]


def reconcile_due(last: datetime | None, now: datetime) -> bool:
    """A reconciliation is due a week after the last one (or after the first commit)."""
    return last is not None and now - last >= RECONCILE_EVERY


def interleave(per_endpoint: list[list[DayTask]]) -> list[DayTask]:
    """Tasks of several endpoints, day by day, so that both endpoints are fetched side by side."""
    out = [t for tasks in per_endpoint for t in tasks]
    return sorted(out, key=lambda t: (t.day, t.endpoint.name))


def plan_sync(
    endpoints: Sequence[Endpoint],
    states: Mapping[str, Mapping[date, DayState]],
    days: Sequence[date] | None,
    *,
    mode: str,
    today: date,
    now: datetime,
    first_day: date,
    horizon_days: int | None = None,
    refresh_open: bool = False,
    reconcile_days: int | None = None,
    last_reconcile: datetime | None = None,
) -> list[DayTask]:
    """Every task of a sync, both endpoints interleaved by day.

    `days` None: the nightly (`nightly_tasks`), reconciling `reconcile_days` days, or, when None,
    DEFAULT_RECONCILE_DAYS if one is due. Else those days, walked (REFRESH) or brought up to date
    (INCREMENTAL), plus `reconcile_days` if given. `refresh_open` adds every day holding open runs.
    """
    oldest = today - timedelta(days=horizon_days) if horizon_days is not None else date.min
    per_endpoint: list[list[DayTask]] = []
    for endpoint in endpoints:
        known = dict(states.get(endpoint.name, {}))
        if days is None:
            due = reconcile_days
            if due is None:
                due = DEFAULT_RECONCILE_DAYS if reconcile_due(last_reconcile, now) else 0
            tasks = nightly_tasks(
                endpoint,
                known,
                today=today,
                first_day=first_day,
                horizon_days=horizon_days,
                reconcile_days=due,
            )
        else:
            tasks = []
            for day in sorted(set(days)):
                if mode in (REFRESH, RECONCILE):
                    tasks.append(DayTask(endpoint, day, WALK if mode == REFRESH else RECONCILE))
                elif (task := incremental_task(endpoint, day, known.get(day))) is not None:
                    tasks.append(task)
            walked = {t.day for t in tasks if t.walks}
            for n in range(1, (reconcile_days or 0) + 1):
                day = today - timedelta(days=n)
                if day not in walked and day in known and day >= first_day:
                    tasks = [t for t in tasks if t.day != day] + [DayTask(endpoint, day, RECONCILE)]
        if refresh_open:
            planned = {t.day for t in tasks}
            for day, state in sorted(known.items()):
                task = incremental_task(endpoint, day, state) if day not in planned else None
                if task is not None and state.open_ids and day >= oldest:
                    tasks.append(task)
        per_endpoint.append(sorted(tasks, key=lambda t: t.day))
    return interleave(per_endpoint)
