-- The compactor's heartbeat extends every claim its owner holds
-- (UPDATE ... WHERE owner = ? AND status = 'claimed') every 20 s: without an
-- index it would read, and under InnoDB lock, every row of the table.
CREATE INDEX image_fetches_claims ON image_fetches (status, owner)
