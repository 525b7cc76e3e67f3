-- Audit log of tool invocations: one row per invocation, appended and never
-- updated. ts is in unix milliseconds, latency_us in microseconds,
-- from_model is 0 or 1. id keeps the order of appends and is the cursor of
-- the pages of GET /audit.
CREATE TABLE audit (
	id          INTEGER PRIMARY KEY,
	tenant      TEXT    NOT NULL,
	ts          INTEGER NOT NULL,
	request_id  TEXT    NOT NULL,
	key_id      TEXT    NOT NULL,
	tool        TEXT    NOT NULL,
	args_sha256 TEXT    NOT NULL,
	outcome     TEXT    NOT NULL,
	error_code  TEXT    NOT NULL,
	latency_us  INTEGER NOT NULL,
	from_model  INTEGER NOT NULL
) STRICT;

-- Serves one tenant's pages, newest first, with or without a tool filter.
CREATE INDEX audit_tenant_id ON audit (tenant, id);
CREATE INDEX audit_tenant_tool_id ON audit (tenant, tool, id);
