-- Takedowns (docs/operations.md, "Takedowns"): what an operator took down,
-- who, when and why, which image files that deleted, and when it was lifted.
-- A performer takedown names the performer (and its feed id, so that feed
-- runs keep it out); an image takedown names one URL hash.
CREATE TABLE takedowns (
	id {{.PK}},
	pornstar_id BIGINT NULL,
	feed_id BIGINT NULL,
	url_hash CHAR(64) NULL,
	reason TEXT NOT NULL,
	taken_by VARCHAR(255) NOT NULL,
	created_at {{.DateTime}} NOT NULL,
	deleted_files TEXT NULL,
	kept_files TEXT NULL,
	lifted_at {{.DateTime}} NULL,
	lifted_by VARCHAR(255) NULL
){{.TableOptions}}
--bun:split
CREATE INDEX takedowns_feed_id ON takedowns (feed_id, lifted_at)
--bun:split
CREATE INDEX takedowns_pornstar_id ON takedowns (pornstar_id, lifted_at)
--bun:split
-- Every URL hash a takedown covers: the named one, or the thumbnails the
-- performer had when it was taken down.
CREATE TABLE takedown_hashes (
	url_hash CHAR(64) NOT NULL,
	takedown_id BIGINT NOT NULL,
	PRIMARY KEY (url_hash, takedown_id),
	FOREIGN KEY (takedown_id) REFERENCES takedowns (id) ON DELETE CASCADE
){{.TableOptions}}
--bun:split
-- Profiles a feed run kept out because the performer is taken down.
ALTER TABLE feed_runs ADD COLUMN items_taken_down BIGINT NOT NULL DEFAULT 0
