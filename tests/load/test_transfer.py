"""copy_into_lake (`migrate --to`): the lake's counts are checked against the file's before success."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from warehouses import make_warehouse

from pipelines.errors import CopyMismatch
from pipelines.load import transfer
from pipelines.load.connections import open_reader, open_writer
from pipelines.load.transfer import copy_into_lake

from .loading import load_day
from .partition_rows import rejected, run_documents, run_ids, workflow_runs

DAY = date(2026, 5, 1)


def test_a_copy_whose_counts_differ_from_the_file_is_not_trusted(tmp_path, postgres, monkeypatch) -> None:
    source = tmp_path / "source.duckdb"
    ids = run_ids(DAY, range(3))
    with open_writer(source) as con:
        tables = {
            "workflow_runs": workflow_runs(DAY, ids),
            "workflow_run_documents": run_documents(DAY, ids),
            "rejected_records": rejected("runs", DAY, []),
        }
        load_day(con, "runs", DAY, tables)
    copy_tables = transfer._copy_tables

    def copy_losing_a_run(con: duckdb.DuckDBPyConnection) -> None:
        copy_tables(con)
        con.execute("DELETE FROM retab.workflow_runs WHERE id = ?", [ids[0]])

    monkeypatch.setattr(transfer, "_copy_tables", copy_losing_a_run)
    lake = make_warehouse("lake", tmp_path / "lake", postgres)
    with pytest.raises(CopyMismatch, match=r"not trusted: workflow_runs: 3 rows in the file, 2 in the lake$"):
        copy_into_lake(source, lake)
    with open_reader(source) as con:  # the file is never written by a copy
        assert con.execute("SELECT count(*) FROM retab.workflow_runs").fetchone() == (3,)
