"""Versioned DDL: apply the package's sql/schema/NNN_name.sql once each, recorded in retab.schema_version.

A file is applied in its own transaction together with its schema_version row, so a crash leaves
either the old version or the new one. On a DuckLake (`lake=True`) each file is applied in its lake
form (`lake_sql`: no `USING COMPRESSION`, no `PRIMARY KEY`, no `DEFAULT now()`, which DuckLake
lacks), and the day tables are partitioned by day in the same transaction (`LAKE_PARTITIONING`:
one Parquet folder per day, so that replacing a day rewrites that day's files only).
Files must not contain BEGIN/COMMIT; never edit an applied file, add the next number instead.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import duckdb

from pipelines.errors import MigrationError, SchemaTooNew

# Shipped as package data (pyproject.toml), found the same way in a wheel and in a checkout.
WAREHOUSE_SCHEMA_DIR: Traversable = resources.files("pipelines.load") / "sql" / "schema"

_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_LAKE_UNSUPPORTED = (
    re.compile(r"\s+USING\s+COMPRESSION\s+\w+", re.IGNORECASE),
    re.compile(r"\s+PRIMARY\s+KEY\b", re.IGNORECASE),
    re.compile(r"\s+DEFAULT\s+now\(\)", re.IGNORECASE),
)

# Applied with the schema file of that version, on a lake only.
LAKE_PARTITIONING: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE retab.workflow_runs SET PARTITIONED BY (created_date)",
        "ALTER TABLE retab.experiment_runs SET PARTITIONED BY (created_date)",
        "ALTER TABLE retab.workflow_run_documents SET PARTITIONED BY (created_date)",
        "ALTER TABLE retab.rejected_records SET PARTITIONED BY (day)",
    ),
}

_BOOTSTRAP_SQL = """
CREATE SCHEMA IF NOT EXISTS retab;
CREATE TABLE IF NOT EXISTS retab.schema_version (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class Migration:
    """One numbered DDL file."""

    version: int
    name: str
    path: Traversable


def list_migrations(schema_dir: Traversable = WAREHOUSE_SCHEMA_DIR) -> list[Migration]:
    """The schema files in version order; rejects a stray .sql name or a repeated number."""
    migrations: dict[int, Migration] = {}
    for path in sorted((p for p in schema_dir.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: schema files must be named NNN_name.sql (e.g. 002_add_column.sql)")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"{path}: version {version} also used by {migrations[version].path.name}")
        migrations[version] = Migration(version, match.group(2), path)
    if not migrations:
        raise MigrationError(f"no schema files (NNN_name.sql) in {schema_dir}")
    return [migrations[v] for v in sorted(migrations)]


def lake_sql(sql: str) -> str:
    """A schema file in the form DuckLake accepts: the clauses it lacks removed (they are storage
    hints and constraints the load enforces itself; `applied_at` is always given)."""
    for pattern in _LAKE_UNSUPPORTED:
        sql = pattern.sub("", sql)
    return sql


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest applied schema version, 0 for a fresh file (also read-only)."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'retab' AND table_name = 'schema_version'"
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT coalesce(max(version), 0) FROM retab.schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(
    con: duckdb.DuckDBPyConnection, schema_dir: Traversable = WAREHOUSE_SCHEMA_DIR, *, lake: bool = False
) -> int:
    """Apply the pending schema files in order, each in one transaction; return the current version."""
    migrations = list_migrations(schema_dir)
    known = migrations[-1].version
    applied = current_version(con)
    if applied < known:  # on a lake, every statement writes a snapshot: nothing when up to date
        con.execute(lake_sql(_BOOTSTRAP_SQL) if lake else _BOOTSTRAP_SQL)
        applied = current_version(con)
    if applied > known:
        raise SchemaTooNew(
            f"this warehouse is at schema version {applied}, but this retab-warehouse knows versions up to "
            f"{known} only: upgrade retab-warehouse, or point RETAB_DUCKDB_PATH at another file"
        )
    for migration in migrations:
        if migration.version <= applied:
            continue
        _apply(con, migration, lake=lake)
        applied = migration.version
    return applied


def _apply(con: duckdb.DuckDBPyConnection, migration: Migration, *, lake: bool = False) -> None:
    """Run one file and record it, in one transaction."""
    sql = migration.path.read_text(encoding="utf-8")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(lake_sql(sql) if lake else sql)
        for statement in LAKE_PARTITIONING.get(migration.version, ()) if lake else ():
            con.execute(statement)
        con.execute(
            "INSERT INTO retab.schema_version (version, name, applied_at) VALUES (?, ?, now())",
            [migration.version, migration.name],
        )
        con.execute("COMMIT")
    except duckdb.Error as exc:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        if "transaction conflict" in str(exc).lower():
            raise  # another writer migrated at the same moment: the caller tries again
        raise MigrationError(f"schema file {migration.path.name} failed, nothing applied: {exc}") from exc
