DROP TABLE image_fetches
