-- Why a feed run withheld its removals (which rule, with its numbers); NULL
-- when it did not.
ALTER TABLE feed_runs ADD COLUMN removals_suppressed_reason TEXT NULL
