ALTER TABLE image_fetches DROP COLUMN placeholder
--bun:split
ALTER TABLE images DROP COLUMN placeholder
--bun:split
DROP INDEX image_variants_last_used{{call .OnTable "image_variants"}}
--bun:split
DROP INDEX image_variants_content{{call .OnTable "image_variants"}}
--bun:split
DROP TABLE image_variants
