"""A small hand-built warehouse whose view results are worked out by hand in the tests.

Workflow runs (durations in ms, `-` none; day = UTC creation date):

| day   | workflow | runs: version, trigger, status, duration                                      |
|-------|----------|-------------------------------------------------------------------------------|
| 05-01 | wf_a     | a1 va1 api completed 1000; a2 va1 api completed 2000; a3 va1 manual completed  |
|       |          | 3000; a4 va2 api completed 4000; a5 va2 api error 500; a6 va2 schedule failed  |
|       |          | 700; a7 va1 api cancelled 300; a8 va1 api awaiting_review -; a9 va1 webhook    |
|       |          | running -; a10 va1 (no trigger) pending -; a11 va1 api queued -               |
| 05-01 | wf_b     | b1 vb1 email completed 10000; b2 vb1 email error 30000                         |
| 05-02 | wf_a     | a12 va2 api completed 5000; a13 va2 api error 45000                            |
| 05-02 | wf_b     | b3 vb1 api completed (2500 from started/completed, duration_ms NULL);          |
|       |          | b4 vb1 api completed 1500                                                      |
| 05-02 | wf_c     | c01..c12 vc1 schedule completed, 100 x n ms, except c07 = 600 (ties c06)       |

Errors: a5 and a6 execution/permanent/extract-block-1, "Field '<x>' missing in document doc_<n>";
b2 and a13 document_fetch/transient/no step, "Timeout after <n> ms fetching file_<x>".
Experiment runs: exp_1/extract-invoice e1 0.80, e2 error, e3 0.90, e4 0.85; exp_1/classify e5 0.50;
exp_2/extract-invoice e6 0.60 (document_count 8, total 0 as the SDK form gives), e7 running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from pipelines.load.connections import sql_literal
from pipelines.load.migrations import migrate

WORKFLOW_RUNS_SQL = """
INSERT INTO retab.workflow_runs
    (id, workflow_id, workflow_version_id, trigger_type, status, created_at, started_at,
     completed_at, duration_ms, created_date, raw, synced_at)
SELECT id, wf, ver, trig, status, created::TIMESTAMPTZ,
       CASE WHEN dur IS NOT NULL OR status = 'running' THEN created::TIMESTAMPTZ END,
       created::TIMESTAMPTZ + to_milliseconds(dur),
       dur, created::TIMESTAMPTZ::DATE, '{}', TIMESTAMPTZ '2026-05-03 02:15:00+00'
FROM (VALUES
    ('a1',  'wf_a', 'va1', 'api',      'completed',       '2026-05-01 08:00:00+00', 1000),
    ('a2',  'wf_a', 'va1', 'api',      'completed',       '2026-05-01 08:01:00+00', 2000),
    ('a3',  'wf_a', 'va1', 'manual',   'completed',       '2026-05-01 08:02:00+00', 3000),
    ('a4',  'wf_a', 'va2', 'api',      'completed',       '2026-05-01 08:03:00+00', 4000),
    ('a5',  'wf_a', 'va2', 'api',      'error',           '2026-05-01 08:04:00+00', 500),
    ('a6',  'wf_a', 'va2', 'schedule', 'failed',          '2026-05-01 08:05:00+00', 700),
    ('a7',  'wf_a', 'va1', 'api',      'cancelled',       '2026-05-01 08:06:00+00', 300),
    ('a8',  'wf_a', 'va1', 'api',      'awaiting_review', '2026-05-01 08:07:00+00', NULL),
    ('a9',  'wf_a', 'va1', 'webhook',  'running',         '2026-05-01 08:08:00+00', NULL),
    ('a10', 'wf_a', 'va1', NULL,       'pending',         '2026-05-01 08:09:00+00', NULL),
    ('a11', 'wf_a', 'va1', 'api',      'queued',          '2026-05-01 08:10:00+00', NULL),
    ('b1',  'wf_b', 'vb1', 'email',    'completed',       '2026-05-01 09:00:00+00', 10000),
    ('b2',  'wf_b', 'vb1', 'email',    'error',           '2026-05-01 09:01:00+00', 30000),
    ('a12', 'wf_a', 'va2', 'api',      'completed',       '2026-05-02 08:00:00+00', 5000),
    ('a13', 'wf_a', 'va2', 'api',      'error',           '2026-05-02 08:01:00+00', 45000),
    ('b3',  'wf_b', 'vb1', 'api',      'completed',       '2026-05-02 09:00:00+00', 2500),
    ('b4',  'wf_b', 'vb1', 'api',      'completed',       '2026-05-02 09:01:00+00', 1500),
    ('c01', 'wf_c', 'vc1', 'schedule', 'completed',       '2026-05-02 10:01:00+00', 100),
    ('c02', 'wf_c', 'vc1', 'schedule', 'completed',       '2026-05-02 10:02:00+00', 200),
    ('c03', 'wf_c', 'vc1', 'schedule', 'completed',       '2026-05-02 10:03:00+00', 300),
    ('c04', 'wf_c', 'vc1', 'schedule', 'completed',       '2026-05-02 10:04:00+00', 400),
    ('c05', 'wf_c', 'vc1', 'schedule', 'completed',       '2026-05-02 10:05:00+00', 500),
    ('c06', 'wf_c', 'vc1', 'schedule', 'completed',       '2026-05-02 10:06:00+00', 600),
    ('c07', 'wf_c', 'vc1', 'schedule', 'completed',       '2026-05-02 10:07:00+00', 600),
    ('c08', 'wf_c', 'vc1', 'schedule', 'completed',       '2026-05-02 10:08:00+00', 800),
    ('c09', 'wf_c', 'vc1', 'schedule', 'completed',       '2026-05-02 10:09:00+00', 900),
    ('c10', 'wf_c', 'vc1', 'schedule', 'completed',       '2026-05-02 10:10:00+00', 1000),
    ('c11', 'wf_c', 'vc1', 'schedule', 'completed',       '2026-05-02 10:11:00+00', 1100),
    ('c12', 'wf_c', 'vc1', 'schedule', 'completed',       '2026-05-02 10:12:00+00', 1200)
) AS t(id, wf, ver, trig, status, created, dur);

UPDATE retab.workflow_runs SET error_message = 'Field ''total'' missing in document doc_1',
    error_stage = 'execution', error_category = 'permanent', failing_step_id = 'extract-block-1'
WHERE id = 'a5';
UPDATE retab.workflow_runs SET error_message = 'Field ''date'' missing in document doc_22',
    error_stage = 'execution', error_category = 'permanent', failing_step_id = 'extract-block-1'
WHERE id = 'a6';
UPDATE retab.workflow_runs SET error_message = 'Timeout after 30000 ms fetching file_8f3a2',
    error_stage = 'document_fetch', error_category = 'transient'
WHERE id = 'b2';
UPDATE retab.workflow_runs SET error_message = 'Timeout after 45000 ms fetching file_77',
    error_stage = 'document_fetch', error_category = 'transient'
WHERE id = 'a13';
-- b3 has timestamps but no duration_ms: the views derive 2500 ms from them
UPDATE retab.workflow_runs SET duration_ms = NULL WHERE id = 'b3';
"""

DOCUMENTS_SQL = """
INSERT INTO retab.workflow_run_documents (run_id, start_block_id, file_id, filename, mime_type, created_date)
VALUES
    ('a1',  'start-1', 'file_1', 'a.pdf', 'application/pdf', DATE '2026-05-01'),
    ('a1',  'start-2', 'file_2', 'a.png', 'image/png',       DATE '2026-05-01'),
    ('a2',  'start-1', 'file_3', 'b.pdf', 'Application/PDF', DATE '2026-05-01'),
    ('a5',  'start-1', 'file_4', 'c',     NULL,              DATE '2026-05-01'),
    ('b1',  'start-1', 'file_5', 'd.png', 'image/png',       DATE '2026-05-01'),
    ('a12', 'start-1', 'file_6', 'e.pdf', 'application/pdf', DATE '2026-05-02'),
    ('b3',  'start-1', 'file_7', 'f.csv', 'text/csv',        DATE '2026-05-02');
"""

EXPERIMENT_RUNS_SQL = """
INSERT INTO retab.experiment_runs
    (id, experiment_id, workflow_id, workflow_version_id, block_id, block_type, trigger_type,
     n_consensus, status, score, total_document_count, completed_document_count, document_count,
     error_count, created_at, duration_ms, created_date, raw, synced_at)
SELECT id, exp, wf, 'va1', block, 'extract', 'api', n, status, score, total, total, docs, 0,
       created::TIMESTAMPTZ, 60000, created::TIMESTAMPTZ::DATE, '{}', TIMESTAMPTZ '2026-05-03 02:15:00+00'
FROM (VALUES
    ('e1', 'exp_1', 'wf_a', 'extract-invoice', 3, 'completed', 0.80, 10,   NULL, '2026-05-01 10:00:00+00'),
    ('e2', 'exp_1', 'wf_a', 'extract-invoice', 3, 'error',     NULL, 10,   NULL, '2026-05-01 12:00:00+00'),
    ('e3', 'exp_1', 'wf_a', 'extract-invoice', 5, 'completed', 0.90, 10,   NULL, '2026-05-02 09:00:00+00'),
    ('e4', 'exp_1', 'wf_a', 'extract-invoice', 5, 'completed', 0.85, 12,   NULL, '2026-05-02 11:00:00+00'),
    ('e5', 'exp_1', 'wf_a', 'classify',        3, 'completed', 0.50, 4,    NULL, '2026-05-01 10:00:00+00'),
    ('e6', 'exp_2', 'wf_b', 'extract-invoice', 7, 'completed', 0.60, 0,    8,    '2026-05-02 08:00:00+00'),
    ('e7', 'exp_2', 'wf_b', 'extract-invoice', 7, 'running',   NULL, 0,    8,    '2026-05-02 10:00:00+00')
) AS t(id, exp, wf, block, n, status, score, total, docs, created);
"""

SYNC_LOG_SQL = """
INSERT INTO retab.sync_log (sync_id, endpoint, day, started_at, finished_at, outcome, source)
VALUES ('s1', 'runs', DATE '2026-05-02', TIMESTAMPTZ '2026-05-03 02:15:00+00',
        TIMESTAMPTZ '2026-05-03 02:16:00+00', 'ok', 'http://127.0.0.1:1');
"""


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The file attached as `warehouse` (as pipelines.load.connections does): `retab.x` is not ambiguous."""
    con = duckdb.connect()
    con.execute(f"ATTACH {sql_literal(path)} AS warehouse{' (READ_ONLY)' if read_only else ''}")
    con.execute("USE warehouse")
    return con


def build_warehouse(path: Path, *, with_rows: bool = True, with_views: bool = True) -> Path:
    """Create a warehouse file from the DDL, insert the hand-built rows and create the views."""
    from pipelines.load.views import create_views

    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(path)
    try:
        migrate(con)  # the schema files of the package, in order
        if with_rows:
            for sql in (WORKFLOW_RUNS_SQL, DOCUMENTS_SQL, EXPERIMENT_RUNS_SQL, SYNC_LOG_SQL):
                con.execute(sql)
        if with_views:
            create_views(con)
    finally:
        con.close()
    return path


def query(path: Path, sql: str) -> list[dict[str, Any]]:
    """Rows of a query on the file, as dicts, read-only."""
    con = connect(path, read_only=True)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
