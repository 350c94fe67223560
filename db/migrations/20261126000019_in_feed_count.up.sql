-- How many performers are in the feed (removed_at IS NULL): the total of
-- every list at its default filter. Each write transaction adds what it
-- changed in the statement that increments the version, so the count is
-- exact at every version and read as one row (db/data_version.go).
ALTER TABLE data_version ADD COLUMN in_feed BIGINT NOT NULL DEFAULT 0
--bun:split
UPDATE data_version SET in_feed = (SELECT COUNT(*) FROM pornstars WHERE removed_at IS NULL) WHERE id = 1
