-- Slugs: a performer's URL name, unique among performers (the unique index
-- is the final arbiter between concurrent writers). The column stays
-- nullable: the rows that exist when this runs get their slugs from
-- DB.Migrate's backfill right after it, which SQL cannot do portably; every
-- row written after that has one.
ALTER TABLE pornstars ADD COLUMN slug VARCHAR(128) NULL
--bun:split
CREATE UNIQUE INDEX pornstars_slug ON pornstars (slug)
--bun:split
-- The sort keys that had no index in the shape a keyset page walks.
CREATE INDEX pornstars_created_at ON pornstars (created_at, id)
--bun:split
-- The breast_type filter.
CREATE INDEX pornstars_breast_type ON pornstars (breast_type)
