DROP INDEX image_fetches_claims{{call .OnTable "image_fetches"}}
