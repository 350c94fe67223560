-- How many performers are in the feed (removed_at IS NULL): the total of
-- every list at its default filter. Each write transaction adds what it
-- changed in the statement that increments the version (db/data_version.go);
-- 000020 counts the performers already there. Two migrations of one
-- statement each, so that either is whole or can run again.
ALTER TABLE data_version ADD COLUMN in_feed BIGINT NOT NULL DEFAULT 0
