"""The Dagster code location (`dagster dev` finds it through [tool.dagster] in pyproject.toml)."""

import dagster as dg

defs = dg.Definitions(assets=[])
