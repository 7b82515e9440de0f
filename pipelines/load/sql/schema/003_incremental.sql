-- Incremental sync (#12): what each attempt did to its day and where its next tail walk starts.
ALTER TABLE retab.sync_log ADD COLUMN mode VARCHAR;          -- walk | resume | update | reconcile
ALTER TABLE retab.sync_log ADD COLUMN tail_cursor VARCHAR;   -- id of the newest record seen
ALTER TABLE retab.sync_log ADD COLUMN gets INTEGER;          -- single-record GETs
ALTER TABLE retab.sync_log ADD COLUMN resumed_pages INTEGER; -- pages a checkpoint saved
ALTER TABLE retab.sync_log ADD COLUMN added BIGINT;          -- rows the day did not hold before
ALTER TABLE retab.sync_log ADD COLUMN changed BIGINT;        -- rows whose record changed
ALTER TABLE retab.sync_log ADD COLUMN removed BIGINT;        -- rows the API no longer has
ALTER TABLE retab.sync_log ADD COLUMN source_time TIMESTAMPTZ; -- the API's clock when the walk began
