-- Durations of completed workflow runs (milliseconds) per day, workflow, version and trigger type;
-- percentiles are exact (linear interpolation, numpy's default).
CREATE OR REPLACE VIEW analytics.run_durations AS
WITH grouped AS (
    SELECT
        day,
        workflow_id,
        workflow_version_id,
        trigger_type,
        count(duration_ms) AS completed_runs,
        avg(duration_ms) AS mean_duration_ms,
        quantile_cont(duration_ms, [0.5, 0.9, 0.95, 0.99]) AS q,
        max(duration_ms) AS max_duration_ms
    FROM analytics.workflow_run_facts
    WHERE outcome = 'completed' AND duration_ms IS NOT NULL
    GROUP BY day, workflow_id, workflow_version_id, trigger_type
)
SELECT
    day,
    workflow_id,
    workflow_version_id,
    trigger_type,
    completed_runs,
    mean_duration_ms,
    q[1] AS p50_duration_ms,
    q[2] AS p90_duration_ms,
    q[3] AS p95_duration_ms,
    q[4] AS p99_duration_ms,
    max_duration_ms
FROM grouped;
