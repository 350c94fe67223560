-- The API's cache of image variants (resized and re-encoded originals): one
-- row per stored variant, written by whichever API process rendered it and
-- shared by every process on the same image store. last_used_at orders the
-- least-recently-used eviction that keeps the sum of bytes under the cap;
-- the rows of one original's variants go with its bytes (takedown, GC).
CREATE TABLE image_variants (
	variant_key VARCHAR(191) NOT NULL PRIMARY KEY,
	content_sha256 CHAR(64) NOT NULL,
	variant_sha256 CHAR(64) NOT NULL,
	content_type VARCHAR(64) NOT NULL,
	bytes BIGINT NOT NULL,
	width INT NOT NULL,
	height INT NOT NULL,
	created_at {{.DateTime}} NOT NULL,
	last_used_at {{.DateTime}} NOT NULL
){{.TableOptions}}
--bun:split
CREATE INDEX image_variants_content ON image_variants (content_sha256)
--bun:split
CREATE INDEX image_variants_last_used ON image_variants (last_used_at)
--bun:split
-- A tiny placeholder of each cached image (a BlurHash), computed once when
-- the compactor stores the bytes and published with the outcome.
ALTER TABLE images ADD COLUMN placeholder VARCHAR(128) NULL
--bun:split
ALTER TABLE image_fetches ADD COLUMN placeholder VARCHAR(128) NULL
