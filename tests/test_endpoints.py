"""One descriptor per endpoint: every layer reads it, none keeps its own list."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from assets.definitions import defs
from assets.retab import ENDPOINT_KEYS
from pipelines.cli import ENDPOINT_CHOICES
from pipelines.endpoints import ENDPOINTS, Endpoint
from pipelines.load.migrations import WAREHOUSE_SCHEMA_DIR
from pipelines.load.partitions import PARTITION_TABLES
from pipelines.schemas import TABLE_SCHEMAS
from pipelines.sync.tasks import endpoint_tables
from pipelines.transform import flattener

ROOT = Path(__file__).resolve().parents[1]
DDL = "\n".join(p.read_text() for p in WAREHOUSE_SCHEMA_DIR.iterdir() if p.name.endswith(".sql"))


@pytest.mark.parametrize("endpoint", list(ENDPOINTS.values()), ids=list(ENDPOINTS))
def test_each_descriptor_names_a_flattener_tables_with_schemas_and_ddl_and_an_asset(
    endpoint: Endpoint,
) -> None:
    assert flattener(endpoint).__name__ == endpoint.flattener
    for name in endpoint.table_names:
        assert name in TABLE_SCHEMAS
        assert f"CREATE TABLE IF NOT EXISTS retab.{name} " in DDL
    assert list(endpoint_tables(endpoint)) == list(endpoint.table_names)
    assert PARTITION_TABLES[endpoint.name] == endpoint.tables
    assert defs.resolve_assets_def(ENDPOINT_KEYS[endpoint.name]).key.path == list(endpoint.asset_key)


def test_the_cli_and_the_assets_list_exactly_the_descriptors() -> None:
    assert (*ENDPOINTS, "all") == ENDPOINT_CHOICES
    assert set(ENDPOINT_KEYS) == set(ENDPOINTS)


def test_no_module_spells_an_endpoint_name_but_the_descriptors() -> None:
    names = set(ENDPOINTS)
    spelled = []
    for path in [*(ROOT / "pipelines").rglob("*.py"), *(ROOT / "assets").glob("*.py")]:
        if path.name == "endpoints.py" or path.parent.name == "report" or path.name == "views.py":
            continue  # the report and the views use "runs" as a column name, not an endpoint
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                spelled.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert spelled == []
