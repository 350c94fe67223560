-- A feed value that breaks its field's rule (db.FieldRule) is stored as
-- unknown and the run records a field-level warning: counted on the run,
-- the first MaxWarningsPerRun of them kept here.
ALTER TABLE feed_runs ADD COLUMN warnings BIGINT NOT NULL DEFAULT 0
--bun:split
CREATE TABLE feed_run_warnings (
	id {{.PK}},
	feed_run_id BIGINT NOT NULL,
	item_index BIGINT NOT NULL,
	feed_id BIGINT NULL,
	field VARCHAR(255) NOT NULL,
	raw_value VARCHAR(255) NOT NULL,
	reason VARCHAR(1024) NOT NULL,
	FOREIGN KEY (feed_run_id) REFERENCES feed_runs (id) ON DELETE CASCADE
){{.TableOptions}}
--bun:split
CREATE INDEX feed_run_warnings_run ON feed_run_warnings (feed_run_id, id)
--bun:split
-- Values that writers stored before the rules bounded them (negative counts
-- from GraphQL or the feed) become unknown, as they would be today; the
-- performer's version moves on so that ETags change. A feed performer is
-- republished with the same unknowns at the next run: its hash differs.
UPDATE pornstars SET version = version + 1 WHERE id IN (SELECT pornstar_id FROM thumbnails WHERE width < 0 OR height < 0)
--bun:split
UPDATE thumbnails SET width = CASE WHEN width < 0 THEN NULL ELSE width END, height = CASE WHEN height < 0 THEN NULL ELSE height END WHERE width < 0 OR height < 0
--bun:split
UPDATE pornstars SET
	version = version + 1,
	breast_size = CASE WHEN breast_size < 0 THEN NULL ELSE breast_size END,
	age = CASE WHEN age < 0 THEN NULL ELSE age END,
	subscriptions = CASE WHEN subscriptions < 0 THEN NULL ELSE subscriptions END,
	monthly_searches = CASE WHEN monthly_searches < 0 THEN NULL ELSE monthly_searches END,
	views = CASE WHEN views < 0 THEN NULL ELSE views END,
	videos_count = CASE WHEN videos_count < 0 THEN NULL ELSE videos_count END,
	premium_videos_count = CASE WHEN premium_videos_count < 0 THEN NULL ELSE premium_videos_count END,
	white_label_video_count = CASE WHEN white_label_video_count < 0 THEN NULL ELSE white_label_video_count END,
	`rank` = CASE WHEN `rank` < 0 THEN NULL ELSE `rank` END,
	rank_premium = CASE WHEN rank_premium < 0 THEN NULL ELSE rank_premium END,
	rank_wl = CASE WHEN rank_wl < 0 THEN NULL ELSE rank_wl END
WHERE breast_size < 0 OR age < 0 OR subscriptions < 0 OR monthly_searches < 0 OR views < 0 OR videos_count < 0
	OR premium_videos_count < 0 OR white_label_video_count < 0 OR `rank` < 0 OR rank_premium < 0 OR rank_wl < 0
