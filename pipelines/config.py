"""Configuration: every RETAB_* variable, read here and only here, at run time; every default once.

    RETAB_API_KEY              the API key (never logged, never stored)
    RETAB_API_BASE_URL         https://api.retab.com
    RETAB_DUCKDB_PATH          warehouse/warehouse.duckdb, or a DuckLake: ducklake:postgres:<libpq string>
    RETAB_DUCKLAKE_DATA_PATH   (none)       a new lake's data folder, or s3://bucket/prefix
    RETAB_PARTITIONS_START     2026-01-01   (Dagster: the first daily partition)
    RETAB_TODAY_EVERY_MINUTES  30           (Dagster: how often today's partition is synced)
    RETAB_REJECTED_SHARE_MAX   0.01         (Dagster: the rejected-records check's threshold)

What the warehouse is, is decided here once: `warehouse_target()` turns RETAB_DUCKDB_PATH into a
`Path` (a DuckDB file, exactly as before) or a `DuckLake` (a catalog in PostgreSQL, Parquet data in
a folder or an S3-compatible store). A `DuckLake` shows itself redacted (no password, no S3 key) in
`str()` and `repr()`; only `pipelines.load.lake` reads its secrets, to attach it.

`Settings` is what one sync needs; `Tuning` holds the performance knobs (batch sizes, the spill
bound, the GC threshold), each measured where its comment says; tests pass a `Tuning` of their own
rather than patching module constants.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pipelines.errors import BadWarehouseTarget, MissingApiKey

DEFAULT_BASE_URL = "https://api.retab.com"
DEFAULT_DUCKDB_PATH = "warehouse/warehouse.duckdb"  # opened directly, its catalog is `warehouse`
# Day windows fetched at once: at 150 ms a page, 4 cannot reach a 30 requests/s quota (bench quota).
DEFAULT_CONCURRENCY = 8
DEFAULT_MAX_ATTEMPTS = 8  # per request, for transient faults
DEFAULT_MAX_RETRY_SECONDS = 300.0  # time budget for retrying one request
DEFAULT_LOCK_WAIT = 60.0  # seconds a writer waits for another holder of the warehouse file
DEFAULT_DEV_PORT = 3000  # the Dagster UI of `retab-warehouse dev`

DUCKDB_PATH_ENV = "RETAB_DUCKDB_PATH"
DUCKLAKE_DATA_PATH_ENV = "RETAB_DUCKLAKE_DATA_PATH"
DUCKLAKE_PREFIX = "ducklake:postgres:"
# S3 credentials for a lake whose data lives in s3:// (read from the environment, never logged).
S3_ENV = {
    "key_id": "AWS_ACCESS_KEY_ID",
    "secret": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
    "region": "AWS_REGION",
    "endpoint": "AWS_ENDPOINT_URL",
}
PARTITIONS_START_ENV = "RETAB_PARTITIONS_START"
DEFAULT_PARTITIONS_START = "2026-01-01"
TODAY_EVERY_ENV = "RETAB_TODAY_EVERY_MINUTES"
DEFAULT_TODAY_EVERY = 30
REJECTED_SHARE_ENV = "RETAB_REJECTED_SHARE_MAX"
DEFAULT_REJECTED_SHARE = 0.01


_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s\"']+)", re.IGNORECASE)
_URI_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)(@)", re.IGNORECASE)
_LIBPQ_FIELD = re.compile(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")
REDACTED = "***"


@dataclass(frozen=True)
class S3Credentials:
    """Credentials for s3:// data, from the AWS_* variables; never shown."""

    key_id: str = field(repr=False)
    secret: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> S3Credentials | None:
        """The AWS_* variables when a key id and a secret are both set, else None."""
        values = {name: env.get(var) or None for name, var in S3_ENV.items()}
        if not values["key_id"] or not values["secret"]:
            return None
        return cls(**values)  # type: ignore[arg-type]

    def secrets(self) -> list[str]:
        """The values no message may contain."""
        return [v for v in (self.key_id, self.secret, self.session_token) if v]


@dataclass(frozen=True)
class DuckLake:
    """A DuckLake warehouse: its catalog in PostgreSQL (`ducklake:postgres:<libpq string>`), its
    Parquet files in `data_path` (a folder or s3://...; needed only to create the lake)."""

    uri: str = field(repr=False)  # may hold a password: attach with it, never show it
    data_path: str | None = None
    s3: S3Credentials | None = field(default=None, repr=False)

    @property
    def libpq(self) -> str:
        """The PostgreSQL connection string (with its password, if any)."""
        return self.uri.removeprefix(DUCKLAKE_PREFIX)

    @property
    def display(self) -> str:
        """The URI with its password replaced by ***: what logs and messages show."""
        return self.redact(self.uri)

    @property
    def key(self) -> str:
        """A short stable name for this lake (host, port, database, user), for local folders."""
        fields = dict(_LIBPQ_FIELD.findall(self.libpq))
        wanted = [fields.get(k, "").strip("'") for k in ("host", "hostaddr", "port", "dbname", "user")]
        if not fields:  # a postgresql:// URI
            wanted = [self.display]
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", fields.get("dbname", "lake").strip("'")) or "lake"
        digest = hashlib.sha256("\0".join(wanted).encode()).hexdigest()[:12]
        return f"{name}-{digest}"

    def redact(self, text: str) -> str:
        """`text` with the catalog password and the S3 credentials replaced by ***."""
        text = _PASSWORD.sub(lambda m: m.group(1) + REDACTED, text)
        text = _URI_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
        secrets = [*self._passwords(), *(self.s3.secrets() if self.s3 else [])]
        for secret in sorted(secrets, key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, REDACTED)
        return text

    def _passwords(self) -> list[str]:
        found = [m.group(2).strip("'") for m in _PASSWORD.finditer(self.libpq)]
        found += [m.group(2) for m in _URI_PASSWORD.finditer(self.libpq)]
        return [p for p in found if p]

    def __str__(self) -> str:
        return self.display


# What the warehouse is: a DuckDB file, or a DuckLake.
Warehouse = Path | DuckLake


def warehouse_target(text: str, environ: Mapping[str, str] | None = None) -> Warehouse:
    """A DuckLake for `ducklake:postgres:...` (data path and S3 keys from the environment), else a file.

    >>> warehouse_target("warehouse/warehouse.duckdb")
    PosixPath('warehouse/warehouse.duckdb')
    """
    env = os.environ if environ is None else environ
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered.startswith("md:") or lowered.startswith("motherduck:"):
        raise BadWarehouseTarget(
            f"{DUCKDB_PATH_ENV}={stripped.split('?')[0]!r} names a MotherDuck database, which this "
            f"version does not support (untested: the motherduck extension is not installed). Use a "
            f"DuckDB file or a lake, ducklake:postgres:dbname=... host=... user=..."
        )
    if not lowered.startswith("ducklake:"):
        return Path(text)
    lake = DuckLake(
        stripped,
        data_path=env.get(DUCKLAKE_DATA_PATH_ENV) or None,
        s3=S3Credentials.from_env(env),
    )
    if not lowered.startswith(DUCKLAKE_PREFIX):
        raise BadWarehouseTarget(
            f"{DUCKDB_PATH_ENV}={lake.display!r}: only DuckLake catalogs in PostgreSQL are supported "
            f"(a DuckDB-file catalog keeps the one-writer lock); write ducklake:postgres:dbname=LAKE "
            f"host=HOST port=5432 user=USER"
        )
    if not lake.libpq.strip():
        raise BadWarehouseTarget(
            f"{DUCKDB_PATH_ENV}={lake.display!r} has no PostgreSQL connection string after "
            f"'ducklake:postgres:'; write ducklake:postgres:dbname=LAKE host=HOST port=5432 user=USER"
        )
    return lake


def describe(warehouse: Warehouse) -> str:
    """How to show the warehouse in a log line or a message: the file's path, or the redacted URI."""
    return warehouse.display if isinstance(warehouse, DuckLake) else str(warehouse)


@dataclass(frozen=True)
class Tuning:
    """Performance knobs of a sync, with the values measured best on the reference machine."""

    # Records flattened at once. While pages come fast (CPU-bound), big batches amortise Arrow's fixed
    # costs and the threads' hand-offs of the GIL: 1,000 instead of 5,000 cost a third of the rows/s.
    flatten_batch_records: int = 5_000
    # While pages are slow to come (the API's latency), smaller batches spread the flattening over the
    # waits instead of piling it up when every window ends at once: +3-4 points of efficiency at
    # concurrency 8 (bench/flatten_load.py, bench/latency.py).
    slow_pages_batch_records: int = 1_000
    slow_page_seconds: float = 0.05
    # Rows (all tables) that small partitions loaded together may share one transaction (one commit,
    # a WAL fsync of ~20 ms, instead of one each).
    group_commit_rows: int = 100_000
    # A window's Arrow data held in memory before it spills: on a day of 1M runs, 16 MB (rather than
    # 64) with the allocator's free pages released after each spill took the sync's peak RSS from 487
    # to 426 MB, at no cost in rows/s (bench/big_day.py, bench/flatten_load.py).
    spool_memory_bytes: int = 16 << 20
    # Spilled and scanned batches are cut to about this many rows or bytes.
    spool_chunk_rows: int = 64_000
    spool_chunk_bytes: int = 8 << 20
    # Uncompressed: on 1M runs lz4 made the spill 5x smaller but read back 2.5x slower and raised the
    # load's peak RSS by ~45 MB (tests/load/bench_load.py --compression lz4).
    spill_compression: str | None = None
    # CPython's gen-0 GC threshold while a sync runs (pipelines.sync.collector).
    gen0_threshold: int = 50_000
    # A day's walk saves a checkpoint every this many pages (pipelines.load.checkpoints): a killed
    # sync fetches again at most this many pages of it (plus a seam's few). Each page costs one
    # orjson.dumps into the journal (~4 % of its flattening); these saves are not fsynced.
    checkpoint_pages: int = 10
    # The flattened rows are made durable, fsynced (and a flatten batch ends) at least every this
    # many pages; the journal holds the pages in between. Shorter batches slow the flattener.
    durable_pages: int = 50
    # A checkpoint older than this is discarded: the runs it holds may have changed since.
    checkpoint_max_age_hours: float = 12.0


TUNING = Tuning()


@dataclass(frozen=True)
class Settings:
    """Everything a sync needs to know, read once from the environment."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    duckdb_path: Warehouse = Path(DEFAULT_DUCKDB_PATH)  # RETAB_DUCKDB_PATH: a file or a DuckLake
    concurrency: int = DEFAULT_CONCURRENCY
    max_rps: float | None = None  # a ceiling on the adaptive request rate (pipelines.extract.throttle)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS
    lock_wait: float = DEFAULT_LOCK_WAIT
    settle_horizon_days: int | None = None  # open runs older than this are left alone (None: any age)
    tuning: Tuning = TUNING

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read RETAB_API_KEY, RETAB_API_BASE_URL and RETAB_DUCKDB_PATH, then apply overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "api_key": env.get("RETAB_API_KEY") or None,
            "base_url": env.get("RETAB_API_BASE_URL") or DEFAULT_BASE_URL,
            "duckdb_path": duckdb_path(env),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def require_key(self) -> str:
        """The API key, or a MissingApiKey error that says what to do."""
        if not self.api_key:
            raise MissingApiKey()
        return self.api_key


def duckdb_path(environ: Mapping[str, str] | None = None) -> Warehouse:
    """$RETAB_DUCKDB_PATH (a file or a DuckLake), else the default warehouse file."""
    env = os.environ if environ is None else environ
    return warehouse_target(env.get(DUCKDB_PATH_ENV) or DEFAULT_DUCKDB_PATH, env)


def partitions_start(environ: Mapping[str, str] | None = None) -> date:
    """$RETAB_PARTITIONS_START (YYYY-MM-DD) or 2026-01-01."""
    env = os.environ if environ is None else environ
    text = env.get(PARTITIONS_START_ENV) or DEFAULT_PARTITIONS_START
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{PARTITIONS_START_ENV}={text!r} is not a day: write it as YYYY-MM-DD, e.g. 2026-01-01"
        ) from None


def today_every_minutes(environ: Mapping[str, str] | None = None) -> int:
    """$RETAB_TODAY_EVERY_MINUTES (1..60) or 30."""
    env = os.environ if environ is None else environ
    text = env.get(TODAY_EVERY_ENV) or str(DEFAULT_TODAY_EVERY)
    if not text.isdigit() or not 1 <= int(text) <= 60:
        raise ValueError(f"{TODAY_EVERY_ENV}={text!r} must be a whole number of minutes from 1 to 60")
    return int(text)


def rejected_share_max(environ: Mapping[str, str] | None = None) -> float:
    """$RETAB_REJECTED_SHARE_MAX (a fraction, e.g. 0.01) or 1%."""
    env = os.environ if environ is None else environ
    text = env.get(REJECTED_SHARE_ENV)
    if not text:
        return DEFAULT_REJECTED_SHARE
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"{REJECTED_SHARE_ENV}={text!r} is not a number: write a fraction such as 0.01"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(
            f"{REJECTED_SHARE_ENV}={text!r} must be a fraction between 0 and 1, e.g. 0.01 for 1%"
        )
    return value
