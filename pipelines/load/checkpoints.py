"""Checkpoints: a day's walk saved as it goes, so that a killed sync resumes instead of starting over.

    <warehouse folder>/.<file>.checkpoints/<endpoint>/<day>/
        manifest.json          where the walk stands (its cursors), its figures so far, its segments
        <table>.NNNNN.arrows   flattened rows of the walk's first pages (Arrow IPC, fsynced)
        journal.NNNNN.jsonl    the records of the pages after those, as walked (one JSON array a page)

Flattened rows are made durable only at the end of a flatten batch (every ~50 pages: cutting
batches shorter costs the flattener a third of its rate); the journal saves the pages in between
as they come, so a checkpoint falls every ~10 pages at the cost of one orjson.dumps a page. A
resumed walk flattens the journal's records again before it walks on.

What a manifest names is written first, then the manifest replaces the previous one by an atomic
rename: a kill at any moment leaves the previous checkpoint or the new one (the journal may have
grown past the length the manifest names: the rest is ignored). Segments and their manifests are
fsynced (they survive a crash of the machine); the journal and its manifests are not (they survive
a kill of the process; after a machine crash a journal that does not read back whole makes the
checkpoint untrusted). A checkpoint
is used only if it is for the same source, younger than `max_age`, complete on disk, and no
sync has committed the day since it began; any other is discarded, never trusted. The folder is
removed once the day's swap has committed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from pipelines.config import DuckLake, Warehouse
from pipelines.errors import WarehouseUnreadable

log = logging.getLogger(__name__)

VERSION = 2  # 2: the journal
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
    journal: tuple[str, int] | None = None  # the journal's file and its bytes up to the cursors

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
            "journal": None if self.journal is None else list(self.journal),
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
            journal=_journal_entry(data.get("journal")),
        )


def _journal_entry(value: Any) -> tuple[str, int] | None:
    return None if value is None else (str(value[0]), int(value[1]))


def save_checkpoint(folder: Path, checkpoint: Checkpoint, *, fsync: bool = True) -> None:
    """Write the manifest atomically (what it names must already be written). With fsync, it
    survives a crash of the machine; without, a kill of the process (the OS has it)."""
    with _writing(folder):
        _write_manifest(folder, checkpoint, fsync=fsync)


@contextlib.contextmanager
def _writing(folder: Path) -> Iterator[None]:
    """A checkpoint that cannot be written fails its day with advice, as the warehouse file would."""
    try:
        yield
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            problem = "cannot be written: the disk is full (or a file-size limit was reached)"
            advice = "free some space there or set RETAB_DUCKDB_PATH to another disk"
        else:
            problem = "cannot be written"
            advice = "make that folder writable or set RETAB_DUCKDB_PATH to a writable location"
        raise WarehouseUnreadable(
            f"checkpoint folder {folder} {problem}: a walk's checkpoints are kept next to the warehouse "
            f"file; {advice}, then run the same command again. ({error})"
        ) from error


def _write_manifest(folder: Path, checkpoint: Checkpoint, *, fsync: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{MANIFEST}.tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(checkpoint.to_json(), out)
        out.flush()
        if fsync:
            os.fsync(out.fileno())
    os.replace(temporary, folder / MANIFEST)
    if not fsync:
        return
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
    if checkpoint.journal is not None:
        name, size = checkpoint.journal
        path = folder / name
        if not path.is_file() or path.stat().st_size < size:
            return f"its journal {name} is missing or truncated"
        try:
            for _ in read_journal(folder, checkpoint.journal):
                pass
        except (OSError, orjson.JSONDecodeError) as error:
            return f"its journal {name} does not read back ({error})"
    return None


class Journal:
    """The pages walked since the spool's last durable segments: appended as they come, written to
    its file from the first sync() on (a day shorter than a checkpoint interval never touches the
    disk); `read_journal` gives them back."""

    def __init__(self, folder: Path, number: int) -> None:
        self.folder = folder
        self.name = f"journal.{number:05d}.jsonl"
        self.size = 0
        self._lines: list[bytes] = []  # appended before the file exists
        self._file: BinaryIO | None = None

    def append(self, records: list[dict[str, Any]]) -> None:
        """Add one page's records (buffered: durable at the next sync())."""
        line = orjson.dumps(records) + b"\n"
        if self._file is None:
            self._lines.append(line)
        else:
            with _writing(self.folder):
                self._file.write(line)
        self.size += len(line)

    def flush(self) -> tuple[str, int]:
        """Hand what was appended to the OS (it survives a kill of the process, not of the machine);
        the (file, bytes) a manifest names."""
        with _writing(self.folder):
            if self._file is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._file = open(self.folder / self.name, "wb")  # noqa: SIM115 (closed by close())
                self._file.writelines(self._lines)
                self._lines = []
            self._file.flush()
        return self.name, self.size

    def close(self) -> None:
        self._lines = []
        if self._file is not None:
            self._file.close()


def journal_number(name: str) -> int:
    """The sequence number in a journal's name (`journal.00003.jsonl`)."""
    return int(name.split(".")[1])


def read_journal(folder: Path, journal: tuple[str, int]) -> Iterator[list[dict[str, Any]]]:
    """The pages' records a checkpoint's journal holds, up to the length its manifest names."""
    name, size = journal
    with open(folder / name, "rb") as file:
        data = file.read(size)
    for line in data.splitlines():
        yield orjson.loads(line)


def _reject(folder: Path, reason: str) -> None:
    log.warning("discarding the checkpoint in %s: %s; the day is walked from the start", folder, reason)
    discard(folder)


def discard(folder: Path) -> None:
    """Remove a checkpoint folder and everything in it (not its endpoint's folder: another walk may
    be creating its own there; `prune` removes the empty ones once no walk runs)."""
    shutil.rmtree(folder, ignore_errors=True)


def prune(root: Path) -> None:
    """Remove the checkpoint root's empty endpoint folders, and the root once empty."""
    for endpoint in [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []:
        with contextlib.suppress(OSError):
            endpoint.rmdir()
    with contextlib.suppress(OSError):
        root.rmdir()
