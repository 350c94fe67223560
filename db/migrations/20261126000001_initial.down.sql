DROP TABLE feed_run_rejects
--bun:split
DROP TABLE feed_runs
--bun:split
DROP TABLE images
--bun:split
DROP TABLE pornstar_tags
--bun:split
DROP TABLE thumbnails
--bun:split
DROP TABLE aliases
--bun:split
DROP TABLE pornstars
