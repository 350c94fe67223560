-- Image garbage collection (marquee imaging gc). seen_used_at is the
-- collector's own evidence of use of the stored bytes with one content hash:
-- the last time it saw a performer in the feed use them, or, for bytes it
-- found unused with no other sign of when they were last used, the first time
-- it saw them so. The row goes with the bytes.
CREATE TABLE image_gc_marks (
	content_sha256 CHAR(64) NOT NULL PRIMARY KEY,
	seen_used_at {{.DateTime}} NOT NULL
){{.TableOptions}}
--bun:split
-- The collector looks up the records of each stored file by its content hash.
CREATE INDEX images_content ON images (content_sha256)
