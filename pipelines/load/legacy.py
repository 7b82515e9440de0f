"""The old default warehouse file, `warehouse/retab.duckdb`, moved once to the new default name.

A file called retab.duckdb opened directly (duckdb CLI, DBeaver, a notebook) gets the catalog
`retab`, which makes `retab.workflow_runs` and every analytics view ambiguous. The default is now
`warehouse/warehouse.duckdb`; a warehouse left at the old default is moved there (with its .wal)
the first time a sync or a reader looks for the default file.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

OLD_DEFAULT = Path("warehouse/retab.duckdb")
_COMPANIONS = (".wal",)  # DuckDB's write-ahead log beside the file


def move_old_default(path: Path, *, old: Path = OLD_DEFAULT) -> str | None:
    """Move `old` (and its .wal) to `path` when `path` is missing and `old` exists; say what was done.

    Only for the default location: returns None, and moves nothing, when there is nothing to move
    or `path` already exists (then `path` is the warehouse, and the old file is left alone).
    """
    path, old = Path(path), Path(old)
    if path.exists() or not old.is_file() or path.absolute() == old.absolute():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in _COMPANIONS:
        companion = old.with_name(old.name + suffix)
        if companion.exists():
            companion.rename(path.with_name(path.name + suffix))
    old.rename(path)
    message = (
        f"moved the warehouse from the old default {old} to {path} (the new default name: opened "
        f"directly, a file called retab.duckdb makes `retab.*` ambiguous)"
    )
    log.warning(message)
    return message


def ambiguous_name(path: Path) -> str | None:
    """A warning when the warehouse file is named retab.duckdb: plain DuckDB clients will trip on it."""
    if Path(path).stem.lower() != "retab":
        return None
    return (
        f"the warehouse file {path} is named retab.duckdb: opened directly (duckdb CLI, DBeaver, a "
        f"notebook) its catalog is `retab`, so `retab.workflow_runs` and the analytics views are "
        f"ambiguous. Rename it (e.g. to warehouse.duckdb, with its .wal) and point RETAB_DUCKDB_PATH at it."
    )
