"""Spool: one (endpoint, day)'s flattened batches, in memory up to a bound, then Arrow IPC on disk.

Small batches (a page is 100 records) are coalesced, and big ones cut, into chunks of a bounded
size (Tuning.spool_chunk_rows and .spool_chunk_bytes, pipelines.config), so that the spill files
and DuckDB's Arrow scan see few batches. Per table, everything spilled sits in segment files in append order,
followed by what is still in memory; reader() streams them in that order. Spill files are read
with ordinary reads, not memory maps, so that a day of a million runs keeps a small resident set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pyarrow as pa

from pipelines.config import TUNING, Tuning
from pipelines.errors import SpillFailed, SpoolSchemaError


@dataclass
class _TableSpool:
    """The batches of one table: spilled segment files, then pending in-memory batches."""

    schema: pa.Schema
    segments: list[Path] = field(default_factory=list)
    segment_rows: list[int] = field(default_factory=list)
    pending: list[pa.RecordBatch] = field(default_factory=list)
    pending_bytes: int = 0
    rows: int = 0


class Spool:
    """A day's flattened output per table, streamed back in append order."""

    def __init__(
        self,
        tables: Mapping[str, pa.Schema],
        *,
        spill_dir: Path | None = None,
        durable_dir: Path | None = None,
        tuning: Tuning = TUNING,
    ) -> None:
        self._tables = {name: _TableSpool(schema) for name, schema in tables.items()}
        self._spill_parent = spill_dir
        # A checkpointed walk spills into its checkpoint's folder, and closing keeps the files.
        self._durable_dir = durable_dir
        self._tuning = tuning
        self._max_memory_bytes = tuning.spool_memory_bytes
        self._memory_bytes = 0
        self._spill_dir: Path | None = None
        self._spills = 0
        self._closed = False
        self._cleanup: weakref.finalize | None = None

    def append(self, table_name: str, batch: pa.Table | pa.RecordBatch) -> None:
        """Add rows to a table; spills every table to disk once memory passes the bound."""
        self._check_open()
        table = self._table(table_name)
        batches = _conform(table_name, table.schema, batch)
        for record_batch in batches:
            if record_batch.num_rows == 0:
                continue
            table.pending.append(record_batch)
            table.pending_bytes += record_batch.nbytes
            table.rows += record_batch.num_rows
            self._memory_bytes += record_batch.nbytes
        if self._memory_bytes > self._max_memory_bytes:
            self.spill()

    def reader(self, table_name: str) -> pa.RecordBatchReader:
        """Everything appended to the table so far, in order, as a stream DuckDB can scan."""
        self._check_open()
        table = self._table(table_name)
        return pa.RecordBatchReader.from_batches(
            table.schema, _iter_table(list(table.segments), list(table.pending), self._tuning)
        )

    @property
    def total_rows(self) -> int:
        """Rows appended, all tables together."""
        return sum(table.rows for table in self._tables.values())

    def rows(self, table_name: str) -> int:
        """Rows appended to the table."""
        return self._table(table_name).rows

    @property
    def memory_bytes(self) -> int:
        """Bytes of Arrow data currently held in memory (all tables)."""
        return self._memory_bytes

    @property
    def spilled_files(self) -> list[Path]:
        """The spill files written so far (all tables)."""
        return [path for table in self._tables.values() for path in table.segments]

    def spill(self) -> None:
        """Write every table's in-memory batches to a new segment file and free them."""
        self._check_open()
        for name, table in self._tables.items():
            if not table.pending:
                continue
            try:
                path = self._new_segment_path(name)
                options = pa.ipc.IpcWriteOptions(compression=self._tuning.spill_compression)
                with (
                    pa.OSFile(str(path), "wb") as sink,
                    pa.ipc.new_stream(sink, table.schema, options=options) as w,
                ):
                    for chunk in _iter_chunks(table.pending, self._tuning):
                        w.write_batch(chunk)
            except OSError as error:
                raise SpillFailed(self._spill_advice(error)) from error
            table.segments.append(path)
            table.segment_rows.append(sum(b.num_rows for b in table.pending))
            self._memory_bytes -= table.pending_bytes
            table.pending = []
            table.pending_bytes = 0
        release_arrow_memory()

    def checkpoint(self) -> dict[str, list[tuple[str, int]]]:
        """Spill, and make every segment durable (fsync); per table, its segment files and rows."""
        if self._durable_dir is None:
            raise RuntimeError("only a spool with a durable_dir can checkpoint")
        self.spill()
        for path in self.spilled_files:
            _fsync(path)
        _fsync(self._durable_dir)
        return {
            name: [(path.name, rows) for path, rows in zip(table.segments, table.segment_rows, strict=True)]
            for name, table in self._tables.items()
        }

    def adopt(self, table_name: str, path: Path, rows: int) -> None:
        """Take an existing segment file (a checkpoint's) as the table's next rows."""
        self._check_open()
        table = self._table(table_name)
        table.segments.append(path)
        table.segment_rows.append(rows)
        table.rows += rows
        self._spills = max(self._spills, _segment_number(path))

    def close(self) -> None:
        """Drop the in-memory batches and delete the spill files (a durable spool keeps its files)."""
        self._closed = True
        for table in self._tables.values():
            table.pending = []
            table.pending_bytes = 0
            table.segments = []
        self._memory_bytes = 0
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _table(self, table_name: str) -> _TableSpool:
        try:
            return self._tables[table_name]
        except KeyError:
            raise KeyError(f"spool has no table {table_name!r}; it holds {sorted(self._tables)}") from None

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("spool is closed")

    def _spill_advice(self, error: OSError) -> str:
        folder = self._spill_dir or self._spill_parent or Path(tempfile.gettempdir())
        return (
            f"could not write rows to the spill folder {folder}: {error}. A day's rows beyond "
            f"{self._max_memory_bytes >> 20} MB wait on disk next to the warehouse file until they are "
            f"loaded; free some space there (or set RETAB_DUCKDB_PATH to a disk with room), then run "
            f"the same command again"
        )

    def _new_segment_path(self, table_name: str) -> Path:
        if self._durable_dir is not None:
            self._durable_dir.mkdir(parents=True, exist_ok=True)
            self._spills += 1
            return self._durable_dir / f"{table_name}.{self._spills:05d}.arrows"
        if self._spill_dir is None:
            if self._spill_parent is not None:
                self._spill_parent.mkdir(parents=True, exist_ok=True)
            self._spill_dir = Path(tempfile.mkdtemp(prefix="retab-spool-", dir=self._spill_parent))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._spill_dir, ignore_errors=True)
        self._spills += 1
        return self._spill_dir / f"{table_name}.{self._spills:05d}.arrows"


def _segment_number(path: Path) -> int:
    """The sequence number in a segment's name (`table.00012.arrows`), 0 if it has none."""
    parts = path.name.split(".")
    return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else 0


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's content to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def release_arrow_memory() -> None:
    """Hand memory that Arrow's allocator holds but no longer uses back to the operating system.

    mimalloc keeps freed pages for reuse; a spill frees a spool's batches all at once, so without
    this the resident set stays at its high-water mark.
    """
    pa.default_memory_pool().release_unused()


def _conform(table_name: str, schema: pa.Schema, batch: pa.Table | pa.RecordBatch) -> list[pa.RecordBatch]:
    """The batch's record batches under the declared schema; differing names or types are an error."""
    if batch.schema.names != schema.names or batch.schema.types != schema.types:
        raise SpoolSchemaError(
            f"{table_name}: batch schema differs from the declared one\n"
            f"declared: {schema}\ngot: {batch.schema}"
        )
    if not batch.schema.equals(schema):  # nullability or metadata only: relabel, no data copy
        batch = batch.cast(schema)
    if isinstance(batch, pa.RecordBatch):
        return [batch]
    return batch.to_batches()


def _iter_chunks(batches: list[pa.RecordBatch], tuning: Tuning) -> Iterator[pa.RecordBatch]:
    """Re-cut batches into chunks of at most about tuning.spool_chunk_rows rows and _bytes bytes."""
    group: list[pa.RecordBatch] = []
    group_rows = group_bytes = 0
    for batch in batches:
        for piece in _split(batch, tuning):
            group.append(piece)
            group_rows += piece.num_rows
            group_bytes += piece.nbytes
            if group_rows >= tuning.spool_chunk_rows or group_bytes >= tuning.spool_chunk_bytes:
                yield _concat(group)
                group, group_rows, group_bytes = [], 0, 0
    if group:
        yield _concat(group)


def _split(batch: pa.RecordBatch, tuning: Tuning) -> Iterator[pa.RecordBatch]:
    """Zero-copy slices of a batch larger than a chunk."""
    row_bytes = max(batch.nbytes // max(batch.num_rows, 1), 1)
    step = max(min(tuning.spool_chunk_rows, tuning.spool_chunk_bytes // row_bytes), 1)
    if batch.num_rows <= step:
        yield batch
        return
    for offset in range(0, batch.num_rows, step):
        yield batch.slice(offset, step)


def _concat(group: list[pa.RecordBatch]) -> pa.RecordBatch:
    return group[0] if len(group) == 1 else pa.concat_batches(group)


def _iter_table(
    segments: list[Path], pending: list[pa.RecordBatch], tuning: Tuning
) -> Iterator[pa.RecordBatch]:
    """Spilled segments in order, then the in-memory batches."""
    for path in segments:
        with pa.OSFile(str(path), "rb") as source, pa.ipc.open_stream(source) as stream:
            yield from stream
    yield from _iter_chunks(pending, tuning)
