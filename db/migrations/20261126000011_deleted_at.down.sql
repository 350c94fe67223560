DELETE FROM pornstars WHERE deleted_at IS NOT NULL
--bun:split
ALTER TABLE pornstars DROP COLUMN deleted_at
