DROP INDEX pornstars_breast_type{{call .OnTable "pornstars"}}
--bun:split
DROP INDEX pornstars_created_at{{call .OnTable "pornstars"}}
--bun:split
DROP INDEX pornstars_slug{{call .OnTable "pornstars"}}
--bun:split
ALTER TABLE pornstars DROP COLUMN slug
