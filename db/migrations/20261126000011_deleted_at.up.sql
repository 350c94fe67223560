-- When a performer made through an API was deleted through it. The row stays
-- as a tombstone (removed_at set, no aliases, thumbnails or tags), so a
-- client that mirrors the performers sees the deletion in its sync walk.
ALTER TABLE pornstars ADD COLUMN deleted_at {{.DateTime}} NULL
