-- KV store: one row per (tenant, key). expires_at is in unix milliseconds,
-- NULL when the value does not expire.
CREATE TABLE kv (
	tenant     TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	value      BLOB    NOT NULL,
	expires_at INTEGER,
	PRIMARY KEY (tenant, key)
) WITHOUT ROWID;

-- Lets the sweeper find expired rows without scanning the table.
CREATE INDEX kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
