-- Schema version 1: the raw tables, the rejected records and the sync log.
-- Applied once, in a transaction, by pipelines.migrations; never edit an applied file, add a new one.
-- `raw` (the record as received, ~0.5-1 kB) is VARCHAR with zstd: DuckDB's default string compression
-- and the JSON type's validation more than halved the load rate (json_extract and ->> work on VARCHAR).
CREATE SCHEMA IF NOT EXISTS retab;

CREATE TABLE IF NOT EXISTS retab.workflow_runs (
    id                    VARCHAR NOT NULL,
    workflow_id           VARCHAR,
    workflow_version_id   VARCHAR,
    trigger_type          VARCHAR,
    status                VARCHAR,
    error_message         VARCHAR,
    error_stage           VARCHAR,
    error_category        VARCHAR,
    error_details         JSON,
    failing_step_id       VARCHAR,
    waiting_for_block_ids VARCHAR[],
    cancel_reason         VARCHAR,
    created_at            TIMESTAMPTZ NOT NULL,
    started_at            TIMESTAMPTZ,
    completed_at          TIMESTAMPTZ,
    duration_ms           BIGINT,
    document_count        INTEGER,
    metadata              JSON,
    created_date          DATE NOT NULL,
    raw                   VARCHAR NOT NULL USING COMPRESSION zstd,
    synced_at             TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS retab.experiment_runs (
    id                       VARCHAR NOT NULL,
    experiment_id            VARCHAR,
    workflow_id              VARCHAR,
    workflow_version_id      VARCHAR,
    block_id                 VARCHAR,
    block_type               VARCHAR,
    trigger_type             VARCHAR,
    n_consensus              INTEGER,
    status                   VARCHAR,
    error_message            VARCHAR,
    cancel_reason            VARCHAR,
    score                    DOUBLE,
    total_document_count     INTEGER,
    completed_document_count INTEGER,
    document_count           INTEGER,
    error_count              INTEGER,
    execution_fingerprint    VARCHAR,
    documents_fingerprint    VARCHAR,
    parent_run_id            VARCHAR,
    created_at               TIMESTAMPTZ NOT NULL,
    started_at               TIMESTAMPTZ,
    completed_at             TIMESTAMPTZ,
    duration_ms              BIGINT,
    created_date             DATE NOT NULL,
    raw                      VARCHAR NOT NULL USING COMPRESSION zstd,
    synced_at                TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS retab.workflow_run_documents (
    run_id         VARCHAR NOT NULL,
    start_block_id VARCHAR NOT NULL,
    file_id        VARCHAR,
    filename       VARCHAR,
    mime_type      VARCHAR,
    created_date   DATE NOT NULL
);

CREATE TABLE IF NOT EXISTS retab.rejected_records (
    endpoint    VARCHAR NOT NULL,
    day         DATE NOT NULL,
    record_id   VARCHAR,
    reason      VARCHAR NOT NULL,
    raw         VARCHAR NOT NULL USING COMPRESSION zstd,
    rejected_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS retab.sync_log (
    sync_id        VARCHAR NOT NULL,   -- one per partition attempt
    endpoint       VARCHAR NOT NULL,   -- "runs" or "experiment-runs"
    day            DATE NOT NULL,
    started_at     TIMESTAMPTZ NOT NULL,
    finished_at    TIMESTAMPTZ,
    outcome        VARCHAR NOT NULL,   -- running | ok | failed | interrupted
    rows           BIGINT,
    pages          INTEGER,
    retries        INTEGER,
    retries_by_cause JSON,
    rejected       INTEGER,
    open_runs      INTEGER,            -- runs still pending/queued/running/awaiting_review
    unknown_fields INTEGER,
    bytes          BIGINT,
    seconds        DOUBLE,
    complete       BOOLEAN,            -- the page walk reached the end of the listing
    source         VARCHAR NOT NULL,   -- the API base URL; never the key
    error          VARCHAR,
    pid            INTEGER,
    host           VARCHAR
);
