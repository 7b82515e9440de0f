-- Errors (status error or failed) per day, workflow, version, stage, category, failing step and
-- normalised message (error_pattern, see workflow_run_facts); example_* come from the first such run.
CREATE OR REPLACE VIEW analytics.workflow_errors AS
SELECT
    day,
    workflow_id,
    workflow_version_id,
    error_stage,
    error_category,
    failing_step_id,
    error_pattern,
    count(*) AS errors,
    min(created_at) AS first_seen_at,
    max(created_at) AS last_seen_at,
    arg_min(error_message, created_at) AS example_message,
    arg_min(run_id, created_at) AS example_run_id
FROM analytics.workflow_run_facts
WHERE outcome = 'error'
GROUP BY day, workflow_id, workflow_version_id, error_stage, error_category, failing_step_id, error_pattern;
