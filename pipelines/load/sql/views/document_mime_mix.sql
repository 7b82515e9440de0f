-- Input documents per day (the run's UTC creation date) and MIME type (lower case, 'unknown' when
-- missing); share is of that day's documents (0-1). Not per workflow: that needs a join with
-- retab.workflow_runs, too slow for 10M runs (see docs/QUERYING.md for the query).
CREATE OR REPLACE VIEW analytics.document_mime_mix AS
SELECT
    created_date AS day,
    coalesce(lower(trim(mime_type)), 'unknown') AS mime_type,
    count(*) AS documents,
    count(*) / sum(count(*)) OVER (PARTITION BY created_date) AS share
FROM retab.workflow_run_documents
GROUP BY created_date, coalesce(lower(trim(mime_type)), 'unknown');
