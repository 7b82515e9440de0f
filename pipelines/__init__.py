"""The retab-warehouse engine: extract, flatten and load, with no Dagster imports."""
