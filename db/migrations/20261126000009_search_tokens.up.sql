-- Search by words (docs/api.md, "Search"): one row per distinct folded word
-- of a performer's name (source 0) or of its alias at position source - 1,
-- so that "a word starts with this prefix" is a range scan of the primary
-- key on both dialects. The same step (db/migrate.go) rewrites
-- pornstars.search_text as the folded name and aliases and fills this table
-- from every performer.
CREATE TABLE pornstar_search_tokens (
	token VARCHAR(255) NOT NULL,
	pornstar_id BIGINT NOT NULL,
	source INT NOT NULL,
	PRIMARY KEY (token, pornstar_id, source),
	FOREIGN KEY (pornstar_id) REFERENCES pornstars (id) ON DELETE CASCADE
){{.TableOptions}}
--bun:split
CREATE INDEX pornstar_search_tokens_owner ON pornstar_search_tokens (pornstar_id, source, token)
