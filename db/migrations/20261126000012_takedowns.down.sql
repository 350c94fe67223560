ALTER TABLE feed_runs DROP COLUMN items_taken_down
--bun:split
DROP TABLE takedown_hashes
--bun:split
DROP TABLE takedowns
