-- Daily health per workflow version; day is the UTC creation date.
-- failure_rate = error / finished, finished = completed + error + cancelled (NULL when none finished);
-- durations in milliseconds, of completed runs only, exact (linear interpolation, numpy's default).
CREATE OR REPLACE VIEW analytics.workflow_version_daily_health AS
WITH daily AS (
    SELECT
        day,
        workflow_id,
        workflow_version_id,
        count(*) AS runs,
        count(*) FILTER (WHERE outcome = 'completed') AS completed,
        count(*) FILTER (WHERE outcome = 'error') AS error,
        count(*) FILTER (WHERE outcome = 'cancelled') AS cancelled,
        count(*) FILTER (WHERE outcome = 'awaiting_review') AS awaiting_review,
        count(*) FILTER (WHERE outcome = 'in_flight') AS in_flight,
        quantile_cont(duration_ms, [0.5, 0.9, 0.99]) FILTER (WHERE outcome = 'completed') AS q
    FROM analytics.workflow_run_facts
    GROUP BY day, workflow_id, workflow_version_id
)
SELECT
    day,
    workflow_id,
    workflow_version_id,
    runs,
    completed,
    error,
    cancelled,
    awaiting_review,
    in_flight,
    completed + error + cancelled AS finished,
    error / nullif(completed + error + cancelled, 0) AS failure_rate,
    q[1] AS p50_duration_ms,
    q[2] AS p90_duration_ms,
    q[3] AS p99_duration_ms
FROM daily;
