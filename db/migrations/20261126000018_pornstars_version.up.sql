-- The discovery index (db/discovery_index.go) checks its copy of the
-- performers against the count and the sum of their versions after every
-- refresh: this index answers both without reading the table's rows.
CREATE INDEX pornstars_version ON pornstars (version)
