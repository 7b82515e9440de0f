"""The wheel works as well as the checkout: built, installed non-editable, run from another folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import duckdb
import pytest

from pipelines.load.views import VIEWS

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-05-10"


@pytest.mark.slow
def test_an_installed_wheel_syncs_and_creates_its_tables_and_views(tmp_path: Path) -> None:
    source, dist = tmp_path / "source", tmp_path / "dist"  # a copy: the build writes next to the sources
    junk = (".venv", ".git", "build", "*.egg-info", "__pycache__", ".*_cache", ".dagster", "warehouse")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*junk))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist)]
    subprocess.run([*build, str(source)], check=True, cwd=tmp_path, timeout=300)
    (wheel,) = dist.glob("retab_warehouse-*.whl")
    shipped = zipfile.ZipFile(wheel).namelist()
    assert "pipelines/load/sql/schema/001_initial.sql" in shipped
    assert "pipelines/load/sql/views/workflow_daily_health.sql" in shipped

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    # The project's locked dependencies, borrowed from this environment: a plain path entry, so its
    # .pth files (the editable install of the checkout among them) are not processed.
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    uv = Path(sys.executable).with_name("uv")
    subprocess.run(
        [str(uv), "pip", "install", "-q", "--no-deps", "--python", str(python), str(wheel)],
        check=True, timeout=300,
    )  # fmt: skip

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run(
        [str(python), "-c", "import pipelines; print(pipelines.__file__)"],
        check=True, capture_output=True, text=True, cwd=elsewhere, env=env,
    ).stdout.strip()  # fmt: skip
    assert where.startswith(str(venv)), f"the checkout leaked in: {where}"

    command = venv / "bin" / "retab-warehouse"
    sim = subprocess.Popen(
        [str(command), "simulate", "--end", DAY, "--days", "2", "--runs-per-day", "150"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=elsewhere, env=env,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        base_url = sim.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:"), base_url
        db = elsewhere / "w.duckdb"
        sync_env = {
            **env,
            "RETAB_API_KEY": "sim-key",
            "RETAB_API_BASE_URL": base_url,
            "RETAB_DUCKDB_PATH": str(db),
        }
        done = subprocess.run(
            [str(command), "sync", "--start", DAY, "--end", DAY, "--quiet"],
            capture_output=True, text=True, cwd=elsewhere, env=sync_env, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    finally:
        sim.terminate()
        sim.wait(timeout=30)

    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM retab.workflow_runs").fetchone() == (150,)
        for table in ("experiment_runs", "workflow_run_documents", "rejected_records", "sync_log"):
            con.execute(f"SELECT count(*) FROM retab.{table}").fetchone()
        for view in VIEWS:
            con.execute(f"SELECT count(*) FROM {view.qualified_name}").fetchone()
    finally:
        con.close()
