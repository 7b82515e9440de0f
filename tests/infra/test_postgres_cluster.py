"""The throwaway PostgreSQL cluster the lake and Dagster-storage tests stand on."""

from __future__ import annotations

import subprocess

from postgres_cluster import PostgresCluster


def test_the_cluster_serves_a_new_database(postgres: PostgresCluster) -> None:
    name = postgres.create_database("smoke")
    psql = [
        str(postgres.bin_dir / "psql"),
        "-h",
        postgres.host,
        "-p",
        str(postgres.port),
        "-U",
        postgres.user,
    ]
    out = subprocess.run(
        [*psql, "-d", name, "-tAc", "SELECT current_database()"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.stdout.strip() == name
