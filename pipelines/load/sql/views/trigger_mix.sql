-- Workflow runs per day, workflow and trigger type; share is of that workflow's runs that day (0-1).
CREATE OR REPLACE VIEW analytics.trigger_mix AS
SELECT
    day,
    workflow_id,
    trigger_type,
    count(*) AS runs,
    count(*) FILTER (WHERE outcome = 'error') AS error,
    count(*) / sum(count(*)) OVER (PARTITION BY day, workflow_id) AS share
FROM analytics.workflow_run_facts
GROUP BY day, workflow_id, trigger_type;
