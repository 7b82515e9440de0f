"""DuckLake: the extensions loaded from their wheels, the lake attached, its errors explained, and
its transaction conflicts retried.

    RETAB_DUCKDB_PATH=ducklake:postgres:dbname=lake host=db.internal user=retab password=...
    RETAB_DUCKLAKE_DATA_PATH=/srv/lake  (or s3://bucket/prefix, with AWS_* credentials)

        in-memory DuckDB ── LOAD postgres_scanner, ducklake (httpfs for s3://), from the wheels
              │
              └── ATTACH 'ducklake:postgres:...' AS warehouse (DATA_PATH ..., DATA_INLINING_ROW_LIMIT 0)
                        catalog: PostgreSQL (snapshots, one per commit)   data: Parquet files

Readers see one snapshot per transaction and never block a writer; writers never wait for a lock.
Loading the two extensions costs ~0.7 s (their signatures are checked), so each process keeps one
DuckDB instance per lake and mode with the lake attached (`lake_connection`), and hands out a new
connection of it (`cursor()`: its own transactions and temp tables) to every open_writer/open_reader.
DuckLake 1.5.5 detects conflicts per table: a transaction that inserts into (or deletes from) a table
another one deleted from since it began fails at COMMIT with "Transaction conflict", even on another
day. `retry_conflicts` runs the whole transaction again (bounded, with backoff): the first writer
has committed by then, so the second commits on its next try. Data inlining is off: rows inlined
into the catalog make every delete of a table conflict with every insert into it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import TypeVar

import duckdb

from pipelines.config import DuckLake, describe
from pipelines.errors import (
    LakeConflict,
    LakeUnreachable,
    LakeUnusable,
    WarehouseError,
    WarehouseMissing,
    WarehouseUnreadable,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# The extensions a lake needs, each shipped as a wheel `duckdb-extension-<name>` pinned to our duckdb.
EXTENSIONS = ("postgres_scanner", "ducklake")
S3_EXTENSION = "httpfs"
LAKE_ATTACH_OPTIONS = ["DATA_INLINING_ROW_LIMIT 0"]

# The conflict retry policy: attempts in all, and the first pause (doubled each time, with jitter).
CONFLICT_ATTEMPTS = 6
CONFLICT_FIRST_DELAY = 0.2
CONFLICT_MAX_DELAY = 3.0

_UNREACHABLE = (
    "connection refused",
    "could not connect",
    "timeout expired",
    "could not translate host",
    "no route to host",
    "network is unreachable",
    "server closed the connection",
    "connection to server",
    "terminating connection",
)


def sql_literal(value: object) -> str:
    """`value` as a SQL string literal: DuckDB 1.5 takes no parameter in ATTACH."""
    return "'" + str(value).replace("'", "''") + "'"


def extension_file(name: str) -> str:
    """Where the wheel `duckdb-extension-<name>` keeps the binary for the running duckdb."""
    try:
        folder = resources.files(f"duckdb_extension_{name}")
    except ModuleNotFoundError:
        raise LakeUnusable(
            f"the DuckDB extension {name!r} is not installed: a lake needs the wheel "
            f"duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__} (make .venv/.dev installs it)"
        ) from None
    path = folder / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise LakeUnusable(
            f"duckdb-extension-{name.replace('_', '-')} has no binary for duckdb {duckdb.__version__} "
            f"({path}): install the version matching duckdb"
        )
    return str(path)


def attach_lake(con: duckdb.DuckDBPyConnection, lake: DuckLake, *, catalog: str, read_only: bool) -> None:
    """Load the extensions from the wheels (never the network) and attach `lake` as `catalog`."""
    needs_s3 = (lake.data_path or "").lower().startswith(("s3://", "s3a://", "gs://", "r2://")) or bool(
        lake.s3
    )
    for name in (*EXTENSIONS, *([S3_EXTENSION] if needs_s3 else [])):
        con.execute(f"LOAD {sql_literal(extension_file(name))}")
    if lake.s3 is not None:
        s3 = lake.s3
        fields = {
            "KEY_ID": s3.key_id,
            "SECRET": s3.secret,
            "SESSION_TOKEN": s3.session_token,
            "REGION": s3.region,
        }
        if s3.endpoint:
            endpoint = s3.endpoint.split("://", 1)[-1].rstrip("/")
            fields |= {
                "ENDPOINT": endpoint,
                "URL_STYLE": "path",
                "USE_SSL": "false" if s3.endpoint.startswith("http://") else "true",
            }
        secret = ", ".join(
            f"{k} {v if k == 'USE_SSL' else sql_literal(v)}" for k, v in fields.items() if v is not None
        )
        con.execute(f"CREATE OR REPLACE TEMPORARY SECRET retab_lake_s3 (TYPE s3, {secret})")
    options = list(LAKE_ATTACH_OPTIONS)
    if lake.data_path and not read_only:
        options.append(f"DATA_PATH {sql_literal(lake.data_path)}")
    if read_only:
        options.append("READ_ONLY")
    con.execute(f"ATTACH {sql_literal(lake.uri)} AS {catalog} ({', '.join(options)})")


_hosts: dict[tuple[str, str | None, bool], duckdb.DuckDBPyConnection] = {}
_hosts_guard = threading.Lock()


def lake_connection(
    lake: DuckLake,
    *,
    catalog: str,
    read_only: bool,
    setup: Callable[[duckdb.DuckDBPyConnection], None] = lambda con: None,
) -> duckdb.DuckDBPyConnection:
    """A new connection with `lake` attached as `catalog` and in use; the process's instance for this
    lake and mode is made on first use (extensions loaded, attached, then `setup`), then reused."""
    key = (lake.uri, lake.data_path, read_only)
    with _hosts_guard:
        host = _hosts.get(key)
        if host is None:
            host = duckdb.connect(":memory:")
            try:
                host.execute("SET autoinstall_known_extensions = false")
                host.execute("SET autoload_known_extensions = false")
                attach_lake(host, lake, catalog=catalog, read_only=read_only)
                setup(host)
            except BaseException:
                host.close()
                raise
            _hosts[key] = host
    con = host.cursor()
    try:
        con.execute(f"USE {catalog}")
    except BaseException:
        con.close()
        raise
    return con


def forget_lake(lake: DuckLake) -> None:
    """Close this process's instances of `lake` (after its catalog stopped answering): the next
    connection attaches it afresh."""
    with _hosts_guard:
        for key in [k for k in _hosts if k[0] == lake.uri]:
            _hosts.pop(key).close()


def explain_lake_error(lake: DuckLake, error: BaseException, *, read_only: bool) -> WarehouseError:
    """The error the user sees for a lake that could not be attached: redacted, with what to do."""
    detail = lake.redact(str(error))
    text = detail.lower()
    where = f"lake {describe(lake)}"
    if "does not exist" in text and "creating a new ducklake is explicitly disabled" in text:
        return WarehouseMissing(
            f"{where} does not exist yet: run `retab-warehouse sync` first (with "
            f"RETAB_DUCKLAKE_DATA_PATH set to its data folder or s3:// prefix). ({detail})"
        )
    if "data_path is not set" in text or ("data_path" in text and "not set" in text):
        return LakeUnusable(
            f"{where} is new and RETAB_DUCKLAKE_DATA_PATH is not set: set it to the folder (or s3://bucket/"
            f"prefix) where the lake's Parquet files go, then run again. ({detail})"
        )
    if "database" in text and "does not exist" in text:
        return LakeUnusable(
            f"{where}: PostgreSQL has no such database; create it (`createdb NAME`) or fix dbname= in "
            f"RETAB_DUCKDB_PATH. ({detail})"
        )
    if (
        "password authentication failed" in text
        or "no password supplied" in text
        or ("role" in text and ("does not exist" in text))
    ):
        return LakeUnusable(
            f"{where}: PostgreSQL refused the login; check user= and password= in RETAB_DUCKDB_PATH "
            f"(or ~/.pgpass, PGPASSWORD). ({detail})"
        )
    if any(marker in text for marker in _UNREACHABLE):
        return LakeUnreachable(
            f"{where}: its PostgreSQL catalog does not answer; start PostgreSQL or fix host= and port= in "
            f"RETAB_DUCKDB_PATH, then run again. ({detail})"
        )
    malformed = ("invalid connection string", 'missing "="', "invalid connection option")
    if any(marker in text for marker in malformed):
        return LakeUnusable(
            f"{where}: the libpq connection string is malformed; write ducklake:postgres:dbname=LAKE "
            f"host=HOST port=5432 user=USER. ({detail})"
        )
    return WarehouseUnreadable(
        f"{where} cannot be {'read' if read_only else 'opened for writing'}: check RETAB_DUCKDB_PATH and "
        f"RETAB_DUCKLAKE_DATA_PATH. ({detail})"
    )


def is_conflict(error: BaseException) -> bool:
    """True for a DuckLake (or DuckDB) transaction conflict: the same work may commit if run again."""
    return isinstance(error, duckdb.Error) and "transaction conflict" in str(error).lower()


def retry_conflicts(
    work: Callable[[], T],
    *,
    what: str,
    attempts: int = CONFLICT_ATTEMPTS,
    first_delay: float = CONFLICT_FIRST_DELAY,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `work` (one whole transaction) again while it fails on a transaction conflict, pausing
    `first_delay` doubled each time (jittered, capped); then raise LakeConflict naming `what`."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except duckdb.Error as error:
            if not is_conflict(error):
                raise
            if attempt == attempts:
                raise LakeConflict(
                    f"{what}: another writer kept committing the same lake tables; gave up after {attempts} "
                    f"attempts ({error})"
                ) from error
            pause = min(delay, CONFLICT_MAX_DELAY) * random.uniform(0.5, 1.0)
            log.info("%s: transaction conflict with another writer; trying again in %.2fs", what, pause)
            sleep(pause)
            delay *= 2
    raise AssertionError("unreachable")
