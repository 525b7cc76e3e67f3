-- Audit record IDs are numbered per tenant: 1, 2, 3, ... in the order of a
-- tenant's appends, so that an ID (and a cursor made of one) says nothing
-- about the calls of other tenants. The table is keyed by (tenant, id);
-- the records already stored are renumbered per tenant, in their order.
CREATE TABLE audit_by_tenant (
	tenant      TEXT    NOT NULL,
	id          INTEGER NOT NULL,
	ts          INTEGER NOT NULL,
	request_id  TEXT    NOT NULL,
	key_id      TEXT    NOT NULL,
	tool        TEXT    NOT NULL,
	args_sha256 TEXT    NOT NULL,
	outcome     TEXT    NOT NULL,
	error_code  TEXT    NOT NULL,
	latency_us  INTEGER NOT NULL,
	from_model  INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
) STRICT;

INSERT INTO audit_by_tenant (tenant, id, ts, request_id, key_id, tool, args_sha256, outcome, error_code, latency_us, from_model)
SELECT tenant, ROW_NUMBER() OVER (PARTITION BY tenant ORDER BY id), ts, request_id, key_id, tool, args_sha256, outcome, error_code, latency_us, from_model
FROM audit;

DROP TABLE audit;
ALTER TABLE audit_by_tenant RENAME TO audit;

-- Serves one tenant's pages with a tool filter; the primary key serves the
-- others.
CREATE INDEX audit_tenant_tool_id ON audit (tenant, tool, id);
-- Retention deletes a tenant's audit records older than a time.
CREATE INDEX audit_tenant_ts ON audit (tenant, ts);

-- The last audit ID given to each tenant. Retention deletes records, never
-- these rows, so that an ID is never given twice.
CREATE TABLE audit_seq (
	tenant TEXT    NOT NULL PRIMARY KEY,
	last   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO audit_seq (tenant, last) SELECT tenant, MAX(id) FROM audit GROUP BY tenant;
