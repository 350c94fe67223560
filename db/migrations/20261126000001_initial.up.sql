-- Marquee's first schema. One file for MySQL (MariaDB) and SQLite: the template
-- fields fill in what differs (see db/migrate.go). Identifiers that are reserved
-- words in MySQL 8 (rank) are quoted with backticks, which SQLite accepts too.

CREATE TABLE pornstars (
	id {{.PK}},
	external_id BIGINT NULL,
	name VARCHAR(255) NOT NULL,
	name_key VARCHAR(255) NOT NULL,
	search_text TEXT NOT NULL,
	license VARCHAR(32) NULL,
	wl_status BOOLEAN NULL,
	link VARCHAR(1024) NULL,
	hair_colors TEXT NULL,
	ethnicities TEXT NULL,
	tattoos BOOLEAN NULL,
	piercings BOOLEAN NULL,
	breast_size INT NULL,
	breast_type VARCHAR(16) NULL,
	gender VARCHAR(32) NULL,
	orientation VARCHAR(32) NULL,
	age INT NULL,
	subscriptions BIGINT NULL,
	monthly_searches BIGINT NULL,
	views BIGINT NULL,
	videos_count BIGINT NULL,
	premium_videos_count BIGINT NULL,
	white_label_video_count BIGINT NULL,
	`rank` BIGINT NULL,
	rank_premium BIGINT NULL,
	rank_wl BIGINT NULL,
	content_hash CHAR(64) NULL,
	version BIGINT NOT NULL DEFAULT 1,
	removed_at {{.DateTime}} NULL,
	created_at {{.DateTime}} NOT NULL,
	updated_at {{.DateTime}} NOT NULL
){{.TableOptions}}
--bun:split
CREATE UNIQUE INDEX pornstars_external_id ON pornstars (external_id)
--bun:split
CREATE INDEX pornstars_name_key ON pornstars (name_key, id)
--bun:split
CREATE INDEX pornstars_updated_at ON pornstars (updated_at, id)
--bun:split
CREATE INDEX pornstars_removed_at ON pornstars (removed_at)
--bun:split
CREATE INDEX pornstars_license ON pornstars (license)
--bun:split
CREATE INDEX pornstars_wl_status ON pornstars (wl_status)
--bun:split
CREATE INDEX pornstars_gender ON pornstars (gender)
--bun:split
CREATE INDEX pornstars_orientation ON pornstars (orientation)
--bun:split
CREATE INDEX pornstars_tattoos ON pornstars (tattoos)
--bun:split
CREATE INDEX pornstars_piercings ON pornstars (piercings)
--bun:split
CREATE INDEX pornstars_age ON pornstars (age, id)
--bun:split
CREATE INDEX pornstars_breast_size ON pornstars (breast_size)
--bun:split
CREATE INDEX pornstars_subscriptions ON pornstars (subscriptions, id)
--bun:split
CREATE INDEX pornstars_monthly_searches ON pornstars (monthly_searches)
--bun:split
CREATE INDEX pornstars_views ON pornstars (views, id)
--bun:split
CREATE INDEX pornstars_videos_count ON pornstars (videos_count)
--bun:split
CREATE INDEX pornstars_premium_videos_count ON pornstars (premium_videos_count)
--bun:split
CREATE INDEX pornstars_white_label_video_count ON pornstars (white_label_video_count)
--bun:split
CREATE INDEX pornstars_rank ON pornstars (`rank`, id)
--bun:split
CREATE INDEX pornstars_rank_premium ON pornstars (rank_premium)
--bun:split
CREATE INDEX pornstars_rank_wl ON pornstars (rank_wl)
--bun:split

CREATE TABLE aliases (
	id {{.PK}},
	pornstar_id BIGINT NOT NULL,
	position INT NOT NULL,
	alias VARCHAR(255) NOT NULL,
	alias_key VARCHAR(255) NOT NULL,
	FOREIGN KEY (pornstar_id) REFERENCES pornstars (id) ON DELETE CASCADE
){{.TableOptions}}
--bun:split
CREATE UNIQUE INDEX aliases_pornstar_alias_key ON aliases (pornstar_id, alias_key)
--bun:split

CREATE TABLE thumbnails (
	id {{.PK}},
	pornstar_id BIGINT NOT NULL,
	position INT NOT NULL,
	type VARCHAR(32) NOT NULL,
	width INT NULL,
	height INT NULL,
	url VARCHAR(2048) NOT NULL,
	url_hash CHAR(64) NOT NULL,
	FOREIGN KEY (pornstar_id) REFERENCES pornstars (id) ON DELETE CASCADE
){{.TableOptions}}
--bun:split
CREATE UNIQUE INDEX thumbnails_pornstar_position ON thumbnails (pornstar_id, position)
--bun:split
CREATE INDEX thumbnails_url_hash ON thumbnails (url_hash)
--bun:split

-- Multi-valued attributes (hair colours, ethnicities), one row per value, so
-- that "any of these values" is an index lookup on both dialects. Values are
-- stored lower-cased; the original spelling stays on pornstars.
CREATE TABLE pornstar_tags (
	attribute VARCHAR(32) NOT NULL,
	value VARCHAR(128) NOT NULL,
	pornstar_id BIGINT NOT NULL,
	PRIMARY KEY (attribute, value, pornstar_id),
	FOREIGN KEY (pornstar_id) REFERENCES pornstars (id) ON DELETE CASCADE
){{.TableOptions}}
--bun:split
CREATE INDEX pornstar_tags_pornstar ON pornstar_tags (pornstar_id)
--bun:split

CREATE TABLE images (
	url_hash CHAR(64) NOT NULL PRIMARY KEY,
	url VARCHAR(2048) NOT NULL,
	status VARCHAR(16) NOT NULL,
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
CREATE INDEX images_status ON images (status)
--bun:split

CREATE TABLE feed_runs (
	id {{.PK}},
	status VARCHAR(16) NOT NULL,
	-- 1 while the run is queued or running, NULL after: the unique index
	-- allows at most one active run across every process.
	active_slot INT NULL,
	requested_by VARCHAR(32) NOT NULL,
	force_run BOOLEAN NOT NULL DEFAULT FALSE,
	source VARCHAR(2048) NULL,
	http_status INT NULL,
	etag VARCHAR(1024) NULL,
	last_modified VARCHAR(64) NULL,
	generation_date {{.DateTime}} NULL,
	bytes BIGINT NOT NULL DEFAULT 0,
	items_seen BIGINT NOT NULL DEFAULT 0,
	items_valid BIGINT NOT NULL DEFAULT 0,
	items_rejected BIGINT NOT NULL DEFAULT 0,
	items_changed BIGINT NOT NULL DEFAULT 0,
	items_removed BIGINT NOT NULL DEFAULT 0,
	images_requested BIGINT NOT NULL DEFAULT 0,
	removals_suppressed BOOLEAN NOT NULL DEFAULT FALSE,
	error TEXT NULL,
	version BIGINT NOT NULL DEFAULT 1,
	queued_at {{.DateTime}} NOT NULL,
	started_at {{.DateTime}} NULL,
	finished_at {{.DateTime}} NULL,
	updated_at {{.DateTime}} NOT NULL
){{.TableOptions}}
--bun:split
CREATE UNIQUE INDEX feed_runs_active_slot ON feed_runs (active_slot)
--bun:split
CREATE INDEX feed_runs_status ON feed_runs (status, id)
--bun:split

CREATE TABLE feed_run_rejects (
	id {{.PK}},
	feed_run_id BIGINT NOT NULL,
	item_index BIGINT NOT NULL,
	feed_id BIGINT NULL,
	reason VARCHAR(1024) NOT NULL,
	FOREIGN KEY (feed_run_id) REFERENCES feed_runs (id) ON DELETE CASCADE
){{.TableOptions}}
--bun:split
CREATE INDEX feed_run_rejects_run ON feed_run_rejects (feed_run_id, id)
