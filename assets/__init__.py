"""Dagster wiring of the retab-warehouse engine: assets, resources, schedules and checks."""
