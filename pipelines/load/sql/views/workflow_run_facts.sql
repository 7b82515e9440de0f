-- One row per workflow run: its outcome, duration (milliseconds) and error message with ids, numbers
-- and quoted values replaced by <*> (error_pattern), so that similar messages group.
-- The other workflow-run views read this one.
-- outcome: completed | error (status error or failed) | cancelled | awaiting_review
--          | in_flight (pending, queued, running) | unknown (any other status)
CREATE OR REPLACE VIEW analytics.workflow_run_facts AS
SELECT
    id AS run_id,
    workflow_id,
    workflow_version_id,
    coalesce(trigger_type, 'unknown') AS trigger_type,
    status,
    CASE
        WHEN status = 'completed' THEN 'completed'
        WHEN status IN ('error', 'failed') THEN 'error'
        WHEN status = 'cancelled' THEN 'cancelled'
        WHEN status = 'awaiting_review' THEN 'awaiting_review'
        WHEN status IN ('pending', 'queued', 'running') THEN 'in_flight'
        ELSE 'unknown'
    END AS outcome,
    created_date AS day,
    created_at,
    started_at,
    completed_at,
    coalesce(duration_ms, date_diff('millisecond', started_at, completed_at)) AS duration_ms,
    document_count,
    error_stage,
    error_category,
    failing_step_id,
    error_message,
    -- one pass: URLs, UUIDs, ids with a digit (run_ab12, extract-block-1), hex strings of 8 or more,
    -- numbers, and quoted values each become <*>
    nullif(trim(regexp_replace(
        error_message,
        'https?://[^\s]+'
        '|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'
        '|\b[A-Za-z][A-Za-z0-9]*[_-][A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*\b'
        '|\b[0-9a-fA-F]{8,}\b'
        '|[0-9]+(?:[.,][0-9]+)*'
        '|(^|[^A-Za-z0-9])(?:''[^'']*''|"[^"]*"|`[^`]*`)',
        '\1<*>', 'g')), '') AS error_pattern
FROM retab.workflow_runs;
