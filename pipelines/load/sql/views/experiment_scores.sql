-- One row per experiment run with its block's history: the previous scored run of the same
-- experiment and block, the change in score against it, the block's best and latest scores.
-- Runs of a block are ordered by created_at, then id; a run without a score (not completed) has
-- score_change NULL and does not count as anyone's previous run. documents is the larger of
-- total_document_count (reference form) and document_count (SDK form): the other one arrives as 0.
CREATE OR REPLACE VIEW analytics.experiment_scores AS
WITH runs AS (
    SELECT
        experiment_id,
        block_id,
        block_type,
        workflow_id,
        workflow_version_id,
        id AS run_id,
        created_date AS day,
        created_at,
        status,
        n_consensus,
        greatest(total_document_count, document_count) AS documents,
        completed_document_count AS completed_documents,
        error_count,
        score,
        coalesce(duration_ms, date_diff('millisecond', started_at, completed_at)) AS duration_ms,
        CASE WHEN score IS NOT NULL THEN id END AS scored_run_id
    FROM retab.experiment_runs
)
SELECT
    experiment_id,
    block_id,
    block_type,
    workflow_id,
    workflow_version_id,
    run_id,
    day,
    created_at,
    status,
    n_consensus,
    documents,
    completed_documents,
    error_count,
    duration_ms,
    score,
    row_number() OVER w AS run_number,
    last_value(score IGNORE NULLS) OVER before AS previous_score,
    last_value(scored_run_id IGNORE NULLS) OVER before AS previous_run_id,
    score - last_value(score IGNORE NULLS) OVER before AS score_change,
    max(score) OVER block AS best_score,
    last_value(score IGNORE NULLS) OVER block AS latest_score,
    count(*) OVER block AS block_runs,
    row_number() OVER w = count(*) OVER block AS is_latest
FROM runs
WINDOW
    w AS (PARTITION BY experiment_id, block_id ORDER BY created_at, run_id),
    before AS (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
    block AS (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING);
