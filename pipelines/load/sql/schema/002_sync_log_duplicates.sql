-- sync_log keeps every figure of pipelines.figures.PartitionFigures: the walk's repeated ids were missing.
-- Rows written before this column read as NULL (0 for the figures type).
ALTER TABLE retab.sync_log ADD COLUMN duplicates BIGINT;
