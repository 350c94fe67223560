-- Counts the performers in the feed when 000019 added the column, in the
-- statement that increments the data version, as every change of in_feed.
UPDATE data_version SET in_feed = (SELECT COUNT(*) FROM pornstars WHERE removed_at IS NULL), version = version + 1 WHERE id = 1
