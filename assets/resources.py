"""Dagster resources: how to reach the Retab API, and where the DuckDB warehouse file is.

Both only hold settings; `sync_settings()` turns them into the engine's `Settings`. Values left at
None are read from the environment when a run starts (the same variables as the CLI).
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import dagster as dg
import duckdb
from pydantic import Field

from pipelines.config import Settings, Warehouse, warehouse_target
from pipelines.errors import MissingApiKey
from pipelines.load.connections import open_reader

_DEFAULTS = Settings()


class RetabApiResource(dg.ConfigurableResource):
    """The Retab API: key, base URL, day windows fetched at once, rate limit and HTTP retry budget.

    Transient HTTP faults (429, 5xx, timeouts) are retried by the client's tenacity policy within
    `max_attempts` and `max_retry_seconds`; the assets set no Dagster RetryPolicy on top, since the
    two would multiply. A crashed run is re-launched by the instance's run_retries (dagster.yaml).
    """

    api_key: str = Field(
        repr=False,
        description="Retab API key. Give it as EnvVar('RETAB_API_KEY') so that the UI shows the variable's "
        "name, never its value.",
    )
    base_url: str | None = Field(
        default=None,
        description="API base URL; None reads $RETAB_API_BASE_URL at run time, else https://api.retab.com.",
    )
    concurrency: int = Field(default=_DEFAULTS.concurrency, ge=1, description="Day windows fetched at once.")
    max_rps: float | None = Field(
        default=None,
        gt=0,
        description="A ceiling on the request rate (requests/s). None: the client adapts its rate to "
        "the API (full speed until it answers 429, then just under its limit).",
    )
    max_attempts: int = Field(
        default=_DEFAULTS.max_attempts, ge=1, description="Attempts per request for transient faults."
    )
    max_retry_seconds: float = Field(
        default=_DEFAULTS.max_retry_seconds, gt=0, description="Time budget for retrying one request."
    )


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse: a DuckDB file (one writer or many readers at a time, each waiting `lock_wait` at
    most) or a DuckLake (`ducklake:postgres:...`: no lock; give it as EnvVar so that the UI never shows
    a password)."""

    path: str | None = Field(
        default=None,
        description="DuckDB file or DuckLake URI (ducklake:postgres:<libpq>); None reads $RETAB_DUCKDB_PATH "
        "at run time, else warehouse/warehouse.duckdb.",
    )
    lock_wait: float = Field(
        default=_DEFAULTS.lock_wait, ge=0, description="Seconds to wait for another holder of the file."
    )
    settle_horizon_days: int | None = Field(
        default=_DEFAULTS.settle_horizon_days,
        ge=1,
        description="Open runs older than this many days are no longer settled by the nightly "
        "(None, the default: settled at any age).",
    )

    def file(self, environ: Mapping[str, str] | None = None) -> Warehouse:
        """The warehouse this resource points at: a DuckDB file or a DuckLake (pipelines.config)."""
        target = warehouse_target(self.path, environ) if self.path else None
        return Settings.from_env(environ, duckdb_path=target).duckdb_path

    @contextmanager
    def reader(self, lock_wait: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (WarehouseMissing if the file does not exist yet)."""
        with open_reader(self.file(), lock_wait=self.lock_wait if lock_wait is None else lock_wait) as con:
            yield con


def sync_settings(
    api: RetabApiResource, warehouse: WarehouseResource, environ: Mapping[str, str] | None = None
) -> Settings:
    """The engine's settings for a run; MissingApiKey when the key resolved to an empty value."""
    if not api.api_key.strip():
        raise MissingApiKey()
    return Settings.from_env(
        environ,
        api_key=api.api_key,
        base_url=api.base_url,
        duckdb_path=warehouse.file(environ),
        concurrency=api.concurrency,
        max_rps=api.max_rps,
        max_attempts=api.max_attempts,
        max_retry_seconds=api.max_retry_seconds,
        lock_wait=warehouse.lock_wait,
        settle_horizon_days=warehouse.settle_horizon_days,
    )
