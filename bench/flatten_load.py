"""Scenario 3: flatten + load on pre-fetched page bytes, against a C++ ceiling on the same bytes.

The pages of DAYS days of workflow runs are fetched from the simulator once and kept as bytes;
each repetition of either side runs in a fresh child process (bench.job) that reads them back.

    ours     pipelines.sync.orchestrator.sync() with a RetabClient whose pages come from memory: parse_page
             (orjson), the loop guard, the worker threads, flatten, spool, replace_partition,
             sync_log, exactly as a sync runs them, without the HTTP
    ceiling  per day: the records cut out of the pages as NDJSON, pyarrow's C++ JSON reader with
             a declared schema, the columns built with Arrow compute (casts, struct fields, the
             documents of each start block), raw = each record's bytes, and one DuckDB
             transaction (delete the day, insert both tables) through the same writer settings

The ceiling is generous: its record cutting relies on the simulator's compact output (a record
boundary is `},{"id":`, which no value of this data contains), it has no rejection rules, no
unknown-field counts and no duplicate handling, and it leaves error_details and metadata (JSON
text of free-form objects, which Arrow cannot produce) null. Both load the same rows.
"""

from __future__ import annotations

import io
import pickle
import statistics
import time
from collections.abc import Generator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import requests

from bench.job import run_job
from bench.table import Figure, ScenarioResult
from bench.worlds import last_days, world
from pipelines.config import Settings
from pipelines.endpoints import WORKFLOW_RUNS, Endpoint
from pipelines.extract.client import ClientConfig, Page, RetabClient, WindowStats
from pipelines.extract.pagination import iter_pages, parse_page
from pipelines.load.connections import open_writer
from pipelines.load.partitions import transaction
from pipelines.schemas import UTC_TIMESTAMP, WORKFLOW_RUN_DOCUMENTS_SCHEMA, WORKFLOW_RUNS_SCHEMA
from pipelines.sync.orchestrator import sync
from retab_sim import start_simulator_process

DAYS = 4
RUNS_PER_DAY = 50_000
TARGET_PERCENT = 50.0
Pages = Mapping[date, list[bytes]]

_S = pa.string()
_DATA_HEAD = b'{"data":['
_DATA_TAIL = b'],"list_metadata"'
_BOUNDARY = b'},{"id":'


def fetch_pages(base_url: str, key: str, days: list[date]) -> dict[date, list[bytes]]:
    """Each day's listing pages as the simulator sent them, in walk order."""
    pages: dict[date, list[bytes]] = {}
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {key}"
        for day in days:
            params = {
                "from_date": day.isoformat(),
                "to_date": day.isoformat(),
                "limit": "100",
                "order": "asc",
            }
            bodies = pages[day] = []
            while True:
                response = session.get(f"{base_url}{WORKFLOW_RUNS.path}", params=params, timeout=60)
                response.raise_for_status()
                bodies.append(response.content)
                after = parse_page(response.content).after
                if after is None:
                    break
                params["after"] = after
    return pages


class PrefetchedClient(RetabClient):
    """A RetabClient serving pages from memory; parsing and the loop guard run as over HTTP."""

    def __init__(self, pages: Pages) -> None:
        super().__init__(ClientConfig(api_key="bench", base_url="http://127.0.0.1:9"))
        self._pages = pages

    def iter_listing(
        self,
        endpoint: Endpoint,
        day: date,
        stats: WindowStats,
        *,
        order: str = "asc",
        after: str | None = None,
    ) -> Generator[Page, None, None]:
        """The day's pages oldest first, as the asc end of a walk sees them; the desc end and a tail
        walk find nothing (the bytes were fetched once, in one order), so one end walks the day."""
        stats.source_time = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(days=2)
        if order == "asc" and after is None:
            yield from self.iter_window_pages(endpoint, day, stats)

    def iter_window_pages(
        self, endpoint: Endpoint, day: date, stats: WindowStats
    ) -> Generator[Page, None, None]:
        """The day's pages, parsed by parse_page, walked by iter_pages."""
        bodies = iter(self._pages[day])

        def fetch(query: dict[str, str]) -> Page:
            page = parse_page(next(bodies))
            stats.pages += 1
            stats.bytes += page.nbytes
            return page

        params = {"from_date": day.isoformat(), "to_date": day.isoformat(), "limit": "100", "order": "asc"}
        began = time.monotonic()
        try:
            for page in iter_pages(
                fetch, params, label=f"{endpoint.name} {day}", max_pages=self.config.max_pages_per_window
            ):
                stats.records += len(page.records)
                yield page
            stats.complete = True
        finally:
            stats.seconds += time.monotonic() - began


def run_ours(pages: Pages, path: Path) -> tuple[float, int]:
    """The sync from bytes into a fresh file; (seconds, rows)."""
    settings = Settings(api_key="bench", base_url="http://127.0.0.1:9", duckdb_path=path)
    began = time.perf_counter()
    report = sync(settings, [WORKFLOW_RUNS], sorted(pages), client=PrefetchedClient(pages))
    seconds = time.perf_counter() - began
    if not report.ok:
        raise RuntimeError(f"the sync from bytes failed: {[p.error for p in report.failed]}")
    return seconds, sum(p.rows for p in report.partitions)


def record_schema(documents: pa.DataType) -> pa.Schema:
    """The declared schema the ceiling reads records with; `documents` as found in the data."""
    lifecycle = pa.struct(
        [
            *((name, _S) for name in ("status", "message", "stage", "category", "failing_step_id", "reason")),
            ("waiting_for_block_ids", pa.list_(_S)),
        ]
    )
    return pa.schema(
        [
            ("id", _S),
            ("workflow_id", _S),
            ("workflow_version_id", _S),
            ("workflow", pa.struct([("workflow_id", _S), ("version_id", _S)])),
            ("trigger", pa.struct([("type", _S)])),
            ("lifecycle", lifecycle),
            ("timing", pa.struct([("created_at", _S), ("started_at", _S), ("completed_at", _S)])),
            ("inputs", pa.struct([("documents", documents)])),
        ]
    )


def records_ndjson(bodies: list[bytes]) -> bytes:
    """The pages' records, one per line, as received."""
    parts = []
    for body in bodies:
        data = body[len(_DATA_HEAD) : body.rindex(_DATA_TAIL)]
        if data:
            parts.append(data.replace(_BOUNDARY, b'}\n{"id":'))
    return b"\n".join(parts)


def discover_documents_type(pages: Pages) -> pa.DataType:
    """The struct Arrow infers for inputs.documents over all the data (declared before timing)."""
    text = b"\n".join(records_ndjson(bodies) for bodies in pages.values())
    table = pa_json.read_json(io.BytesIO(text))
    inputs = table.schema.field("inputs").type
    return inputs.field("documents").type


def ceiling_tables(bodies: list[bytes], schema: pa.Schema, synced_at: datetime) -> tuple[pa.Table, pa.Table]:
    """workflow_runs and workflow_run_documents from one day's page bytes, in C++ all the way."""
    text = records_ndjson(bodies)
    read = pa_json.read_json(
        io.BytesIO(text),
        read_options=pa_json.ReadOptions(block_size=1 << 20),
        parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
    )
    n = read.num_rows
    raw = pc.split_pattern(pa.array([text], pa.binary()), pattern=b"\n").flatten().cast(_S)
    workflow, lifecycle, timing = read.column("workflow"), read.column("lifecycle"), read.column("timing")
    created = pc.struct_field(timing, "created_at").cast(UTC_TIMESTAMP)
    started = pc.struct_field(timing, "started_at").cast(UTC_TIMESTAMP)
    completed = pc.struct_field(timing, "completed_at").cast(UTC_TIMESTAMP)
    created_date = created.cast(pa.date32())
    documents = pc.struct_field(read.column("inputs"), "documents")
    document_tables = []
    present = []
    for name in (f.name for f in documents.type):
        document = pc.struct_field(documents, name)
        valid = pc.is_valid(document)
        present.append(valid.cast(pa.int32()))
        document_tables.append(
            pa.Table.from_arrays(
                [
                    read.column("id").filter(valid),
                    pa.repeat(pa.scalar(name, _S), pc.sum(valid).as_py() or 0),
                    *(pc.struct_field(document, f).filter(valid) for f in ("id", "filename", "mime_type")),
                    created_date.filter(valid),
                ],
                schema=WORKFLOW_RUN_DOCUMENTS_SCHEMA,
            )
        )
    document_count = pa.repeat(pa.scalar(0, pa.int32()), n)
    for counts in present:
        document_count = pc.add(document_count, counts)
    null_text = pa.nulls(n, _S)
    runs = pa.Table.from_arrays(
        [
            read.column("id"),
            pc.coalesce(pc.struct_field(workflow, "workflow_id"), read.column("workflow_id")),
            pc.coalesce(pc.struct_field(workflow, "version_id"), read.column("workflow_version_id")),
            pc.struct_field(read.column("trigger"), "type"),
            pc.struct_field(lifecycle, "status"),
            pc.struct_field(lifecycle, "message"),
            pc.struct_field(lifecycle, "stage"),
            pc.struct_field(lifecycle, "category"),
            null_text,  # error_details: JSON text, which Arrow cannot write
            pc.struct_field(lifecycle, "failing_step_id"),
            pc.struct_field(lifecycle, "waiting_for_block_ids"),
            pc.struct_field(lifecycle, "reason"),
            created,
            started,
            completed,
            pc.divide(pc.subtract(completed, started).cast(pa.int64()), 1000),
            document_count,
            null_text,  # metadata: likewise
            created_date,
            raw,
            pa.repeat(pa.scalar(synced_at, UTC_TIMESTAMP), n),
        ],
        schema=WORKFLOW_RUNS_SCHEMA,
    )
    return runs, pa.concat_tables(document_tables)


def run_ceiling(pages: Pages, schema: pa.Schema, path: Path) -> tuple[float, int, int]:
    """The ceiling into a fresh file; (seconds, runs, documents)."""
    runs_total = documents_total = 0
    began = time.perf_counter()
    for day, bodies in sorted(pages.items()):
        runs, documents = ceiling_tables(bodies, schema, datetime.now(UTC))
        with open_writer(path) as con, transaction(con):
            for table, rows in (("workflow_runs", runs), ("workflow_run_documents", documents)):
                con.execute(f"DELETE FROM retab.{table} WHERE created_date = ?", [day])
                con.register("_ceiling", rows)
                con.execute(f"INSERT INTO retab.{table} SELECT * FROM _ceiling")
                con.unregister("_ceiling")
        runs_total += runs.num_rows
        documents_total += documents.num_rows
    return time.perf_counter() - began, runs_total, documents_total


def documents_loaded(path: Path) -> int:
    """Rows of workflow_run_documents in a warehouse file."""
    with open_writer(path) as con:
        row = con.execute("SELECT count(*) FROM retab.workflow_run_documents").fetchone()
    return int(row[0]) if row else 0


def ours_job(spec: dict[str, Any]) -> dict[str, Any]:
    """Child side of `ours`: the pages from the spec's file, into the spec's warehouse file."""
    pages = load_pages(Path(spec["pages"]))
    seconds, rows = run_ours(pages, Path(spec["db"]))
    return {"seconds": seconds, "rows": rows, "documents": documents_loaded(Path(spec["db"]))}


def ceiling_job(spec: dict[str, Any]) -> dict[str, Any]:
    """Child side of the ceiling."""
    pages = load_pages(Path(spec["pages"]))
    schema = record_schema(discover_documents_type(pages))
    seconds, rows, documents = run_ceiling(pages, schema, Path(spec["db"]))
    return {"seconds": seconds, "rows": rows, "documents": documents}


def save_pages(pages: Pages, path: Path) -> None:
    """The fetched pages, for the child processes."""
    with path.open("wb") as out:
        pickle.dump(dict(pages), out, protocol=pickle.HIGHEST_PROTOCOL)


def load_pages(path: Path) -> dict[date, list[bytes]]:
    """Pages saved by save_pages."""
    with path.open("rb") as source:
        pages: dict[date, list[bytes]] = pickle.load(source)
    return pages


def run(repetitions: int, workdir: Path) -> ScenarioResult:
    """Fetch once; then ours and the ceiling, alternating, each in a fresh child process."""
    result = ScenarioResult("flatten_load")
    days = last_days(DAYS)
    with start_simulator_process(world(days=DAYS, runs_per_day=RUNS_PER_DAY)) as sim:
        pages = fetch_pages(sim.base_url, sim.key, days)
    saved = workdir / "pages.pickle"
    save_pages(pages, saved)
    ours: list[float] = []
    ceiling: list[float] = []
    counts = {}
    for n in range(repetitions):
        for kind, rates in (("flatten_ours", ours), ("flatten_ceiling", ceiling)):
            done = run_job({"kind": kind, "pages": str(saved), "db": str(workdir / f"{kind}-{n}.duckdb")})
            rates.append(done["rows"] / done["seconds"])
            counts[kind.removeprefix("flatten_")] = (done["rows"], done["documents"])
    percent = [100 * a / b for a, b in zip(ours, ceiling, strict=True)]
    megabytes = sum(len(b) for bodies in pages.values() for b in bodies) / 1e6
    same = counts["ours"] == counts["ceiling"]
    result.figures = [
        Figure("flatten_load", f"ours from bytes ({DAYS} d x {RUNS_PER_DAY:,} runs): rows/s", "rows/s", ours),
        Figure(
            "flatten_load",
            "ceiling: pyarrow JSON reader + Arrow compute + DuckDB: rows/s",
            "rows/s",
            ceiling,
            note="" if same else f"rows (runs, documents) differ: {counts}",
        ),
        Figure(
            "flatten_load",
            "ours / ceiling",
            "%",
            percent,
            at_least=TARGET_PERCENT,
            note=f"ratio of the medians {100 * statistics.median(ours) / statistics.median(ceiling):.0f} %",
        ),
    ]
    result.details = {"page_megabytes": megabytes, "rows": counts}
    return result
