-- The image compactor's own durable record of every URL hash it has claimed,
-- cached or failed: its own table, apart from the images the loader writes. A row is written before
-- the first HTTP request for a hash, so duplicate requests, feed re-runs,
-- restarts and several compactors never fetch one URL twice.
--
-- status is claimed while a compactor fetches the URL (owner holds the claim
-- until lease_until; a claim whose lease ended belongs to a compactor that
-- died and may be taken over), then cached or failed with the outcome columns
-- as published on marquee.images. claims counts how often the hash was
-- claimed: more than once only after a crash or a retry after the cool-down.
CREATE TABLE image_fetches (
	url_hash CHAR(64) NOT NULL PRIMARY KEY,
	url VARCHAR(2048) NOT NULL,
	status VARCHAR(16) NOT NULL,
	owner VARCHAR(128) NOT NULL,
	claimed_at {{.DateTime}} NOT NULL,
	lease_until {{.DateTime}} NULL,
	claims INT NOT NULL DEFAULT 1,
	content_sha256 CHAR(64) NULL,
	content_type VARCHAR(64) NULL,
	bytes BIGINT NULL,
	width INT NULL,
	height INT NULL,
	attempts INT NOT NULL DEFAULT 0,
	error TEXT NULL,
	fetched_at {{.DateTime}} NULL,
	version BIGINT NOT NULL DEFAULT 1,
	created_at {{.DateTime}} NOT NULL,
	updated_at {{.DateTime}} NOT NULL
){{.TableOptions}}
--bun:split
-- Which URLs share one stored file (the di. -> ei. host change), for operators
-- and for pruning files no record points at.
CREATE INDEX image_fetches_content ON image_fetches (content_sha256)
