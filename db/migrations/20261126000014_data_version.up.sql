-- The data version: one row whose counter every write transaction of the
-- store increments, so that a cache of answers (the API's response cache),
-- in this process or another one on the same database or a replica, knows
-- with one cheap read whether anything it answered from may have changed.
CREATE TABLE data_version (
	id INTEGER NOT NULL PRIMARY KEY,
	version BIGINT NOT NULL
){{.TableOptions}}
--bun:split
INSERT INTO data_version (id, version) VALUES (1, 0)
