"""A throwaway PostgreSQL cluster for the tests that need one (the DuckLake catalog, Dagster's storage).

`running_cluster()` runs `initdb` in a fresh folder and `pg_ctl start` on a free loopback port, and
stops and removes it on exit; the session-scoped fixture `postgres` (tests/conftest.py, one per
xdist worker) and the bench's lake rows (`python -m bench`, which imports this module) stand on it.
PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user (the Debian
package creates it).
`.ci/run` installs the server when the machine lacks it; without it these tests fail, never skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SUPERUSER = "postgres"


@dataclass(frozen=True)
class PostgresCluster:
    """A running cluster: where it listens and how to make a database on it."""

    host: str
    port: int
    user: str
    bin_dir: Path

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        subprocess.run(
            [str(self.bin_dir / "createdb"), "-h", self.host, "-p", str(self.port), "-U", self.user, name],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return name

    def libpq(self, dbname: str) -> str:
        """A libpq connection string for `dbname` (trust authentication: no password)."""
        return f"dbname={dbname} host={self.host} port={self.port} user={self.user}"

    def url(self, dbname: str) -> str:
        """A SQLAlchemy-style URL for `dbname`."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"


def find_bin_dir() -> Path:
    """The folder holding initdb and pg_ctl: the newest /usr/lib/postgresql/N/bin, else PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if found:
        return Path(found[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError(
        "PostgreSQL is not installed (no initdb): `apt-get install postgresql` (.ci/run does this)"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    """`command` run as the cluster's owner: the postgres user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", _SUPERUSER, "--", *command]
    return command


@contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster on a free loopback port, stopped and removed after the session."""
    bin_dir = find_bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="retab-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, _SUPERUSER)
        shutil.chown(sockets, _SUPERUSER)
    user = _SUPERUSER if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    subprocess.run(
        _as_owner([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8"]),
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = _free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_owner(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(folder / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield PostgresCluster(host="127.0.0.1", port=port, user=user, bin_dir=bin_dir)
    finally:
        subprocess.run(
            _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)
