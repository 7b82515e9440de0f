-- The ten longest runs of each workflow on each day, any status with a duration (milliseconds);
-- rank 1 is the slowest, equal durations rank by run id. Picked with the top-n aggregate
-- max_by(..., 10), far cheaper than ranking every run with a window: when runs tie for tenth place,
-- which of them is kept is arbitrary.
CREATE OR REPLACE VIEW analytics.slowest_runs AS
WITH top AS (
    SELECT
        day,
        workflow_id,
        unnest(max_by(
            {
                'run_id': run_id,
                'workflow_version_id': workflow_version_id,
                'trigger_type': trigger_type,
                'status': status,
                'duration_ms': duration_ms,
                'created_at': created_at
            },
            duration_ms,
            10
        )) AS run
    FROM analytics.workflow_run_facts
    WHERE duration_ms IS NOT NULL
    GROUP BY day, workflow_id
)
SELECT
    day,
    workflow_id,
    row_number() OVER (PARTITION BY day, workflow_id ORDER BY run.duration_ms DESC, run.run_id) AS rank,
    run.run_id,
    run.workflow_version_id,
    run.trigger_type,
    run.status,
    run.duration_ms,
    run.created_at
FROM top;
