-- The values made unknown by the up migration are not restored: they were invalid.
DROP TABLE feed_run_warnings
--bun:split
ALTER TABLE feed_runs DROP COLUMN warnings
