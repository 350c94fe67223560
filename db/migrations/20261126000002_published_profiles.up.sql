-- What ingest last published for each performer, kept on the primary by ingest
-- itself: change detection compares a feed item with this, never with what the
-- loader has written so far. content_hash is NULL after a tombstone.
CREATE TABLE published_profiles (
	feed_id BIGINT NOT NULL PRIMARY KEY,
	content_hash CHAR(64) NULL,
	published_at {{.DateTime}} NOT NULL
){{.TableOptions}}
