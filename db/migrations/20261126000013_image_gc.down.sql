DROP INDEX images_content{{call .OnTable "images"}}
--bun:split
DROP TABLE image_gc_marks
