"""Checkpoints: a day's walk saved as it goes, so that a killed sync resumes instead of starting over.

    <warehouse folder>/.<file>.checkpoints/<endpoint>/<day>/
        manifest.json          where the walk stands (its cursors), its figures so far, its segments
        <table>.NNNNN.arrows   the flattened rows fetched up to those cursors (Arrow IPC, fsynced)

The segments are written and fsynced first, then the manifest replaces the previous one by an
atomic rename: a kill at any moment leaves the previous checkpoint or the new one. A checkpoint
is used only if it is for the same source, younger than `max_age`, complete on disk, and no
sync has committed the day since it began; any other is discarded, never trusted. The folder is
removed once the day's swap has committed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.config import DuckLake, Warehouse

log = logging.getLogger(__name__)

VERSION = 1
MANIFEST = "manifest.json"


def checkpoint_root(warehouse: Warehouse) -> Path:
    """The checkpoints' folder: next to the warehouse file (same disk, same lifetime); for a lake,
    this machine's cache (~/.cache/retab-warehouse/<lake>.checkpoints: a walk resumes where it ran)."""
    if isinstance(warehouse, DuckLake):
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cache / "retab-warehouse" / f"{warehouse.key}.checkpoints"
    return warehouse.resolve().parent / f".{warehouse.name}.checkpoints"


def checkpoint_folder(root: Path, endpoint: str, day: date) -> Path:
    """One (endpoint, day)'s checkpoint folder."""
    return root / endpoint / day.isoformat()


@dataclass
class Checkpoint:
    """A walk saved part-way: its cursors, its figures, its segments per table as (file, rows, bytes)."""

    endpoint: str
    day: date
    source: str  # pipelines.load.partitions.source_identity of the API walked
    started_at: datetime  # when the walk began (its first attempt)
    saved_at: datetime
    cursors: dict[str, Any]  # pipelines.extract.walks.WalkCursors.to_json()
    figures: dict[str, Any]  # the figures counted so far (pipelines.figures columns)
    segments: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)
    pages: int = 0  # pages fetched up to the cursors, over every attempt

    def to_json(self) -> dict[str, Any]:
        """The manifest's content."""
        return {
            "version": VERSION,
            "endpoint": self.endpoint,
            "day": self.day.isoformat(),
            "source": self.source,
            "started_at": self.started_at.isoformat(),
            "saved_at": self.saved_at.isoformat(),
            "cursors": self.cursors,
            "figures": self.figures,
            "segments": {name: [list(s) for s in segs] for name, segs in self.segments.items()},
            "pages": self.pages,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        """Read a manifest; ValueError when it is not one this version wrote."""
        if data.get("version") != VERSION:
            raise ValueError(f"manifest version {data.get('version')!r}, expected {VERSION}")
        return cls(
            endpoint=str(data["endpoint"]),
            day=date.fromisoformat(data["day"]),
            source=str(data["source"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            saved_at=datetime.fromisoformat(data["saved_at"]),
            cursors=dict(data["cursors"]),
            figures=dict(data["figures"]),
            segments={
                name: [(str(f), int(r), int(b)) for f, r, b in segs]
                for name, segs in data["segments"].items()
            },
            pages=int(data["pages"]),
        )


def save_checkpoint(folder: Path, checkpoint: Checkpoint) -> None:
    """Write the manifest atomically (its segments must already be durable)."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{MANIFEST}.tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(checkpoint.to_json(), out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, folder / MANIFEST)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def find_checkpoint(
    folder: Path,
    *,
    source: str,
    now: datetime,
    max_age: timedelta,
    committed_at: datetime | None,
) -> Checkpoint | None:
    """The folder's checkpoint if it can be trusted; otherwise the folder is discarded and None returned.

    `committed_at`: when the latest committed sync of the day started (a checkpoint older than that
    describes a walk whose day has been replaced since).
    """
    manifest = folder / MANIFEST
    if not manifest.exists():
        discard(folder)
        return None
    try:
        checkpoint = Checkpoint.from_json(json.loads(manifest.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        _reject(folder, f"unreadable manifest ({error})")
        return None
    reason = _distrust(checkpoint, folder, source=source, now=now, max_age=max_age, committed_at=committed_at)
    if reason is not None:
        _reject(folder, reason)
        return None
    return checkpoint


def _distrust(
    checkpoint: Checkpoint,
    folder: Path,
    *,
    source: str,
    now: datetime,
    max_age: timedelta,
    committed_at: datetime | None,
) -> str | None:
    """Why a checkpoint must not be used, or None."""
    if checkpoint.source != source:
        return f"it is for {checkpoint.source}, not {source}"
    if now - checkpoint.started_at > max_age:
        return f"it is older than {max_age} (the runs it holds may have changed since)"
    if committed_at is not None and committed_at >= checkpoint.started_at:
        return "the day was committed by another sync since it began"
    for segments in checkpoint.segments.values():
        for name, _, size in segments:
            path = folder / name
            if not path.is_file() or path.stat().st_size != size:
                return f"its segment {name} is missing or truncated"
    return None


def _reject(folder: Path, reason: str) -> None:
    log.warning("discarding the checkpoint in %s: %s; the day is walked from the start", folder, reason)
    discard(folder)


def discard(folder: Path) -> None:
    """Remove a checkpoint folder and everything in it."""
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):  # the endpoint folder, once empty
        folder.parent.rmdir()
