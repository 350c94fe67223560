-- pornstars.search_text keeps its folded form: lower-case text, which the
-- earlier substring search reads as it reads its own.
DROP TABLE pornstar_search_tokens
