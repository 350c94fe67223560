ALTER TABLE data_version DROP COLUMN in_feed
