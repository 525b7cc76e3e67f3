-- Usage ledger: one row per model call made through the gateway, appended
-- and never updated. ts is in unix milliseconds, latency_us and ttft_us in
-- microseconds; fallback, estimated and cache_hit are 0 or 1. id keeps the
-- order in which rows were appended (an INTEGER PRIMARY KEY survives VACUUM).
-- The tables are STRICT so that an integer overflow fails the write instead
-- of turning a sum into a REAL.
CREATE TABLE usage (
	id          INTEGER PRIMARY KEY,
	tenant      TEXT    NOT NULL,
	ts          INTEGER NOT NULL,
	request_id  TEXT    NOT NULL,
	key_id      TEXT    NOT NULL,
	route       TEXT    NOT NULL,
	provider    TEXT    NOT NULL,
	model       TEXT    NOT NULL,
	attempts    INTEGER NOT NULL,
	fallback    INTEGER NOT NULL,
	status      TEXT    NOT NULL,
	error_kind  TEXT    NOT NULL,
	latency_us  INTEGER NOT NULL,
	ttft_us     INTEGER NOT NULL,
	tokens_in   INTEGER NOT NULL,
	tokens_out  INTEGER NOT NULL,
	estimated   INTEGER NOT NULL,
	cost_micros INTEGER NOT NULL,
	cache_hit   INTEGER NOT NULL
) STRICT;

-- Serves the reads of one tenant's ledger over a time range, oldest first.
CREATE INDEX usage_tenant_ts ON usage (tenant, ts);

-- Daily rollup of the ledger, kept up to date by the same transaction that
-- appends to it: one row per tenant, UTC day (YYYY-MM-DD), key and model.
CREATE TABLE usage_daily (
	tenant      TEXT    NOT NULL,
	day         TEXT    NOT NULL,
	key_id      TEXT    NOT NULL,
	provider    TEXT    NOT NULL,
	model       TEXT    NOT NULL,
	requests    INTEGER NOT NULL,
	errors      INTEGER NOT NULL,
	fallbacks   INTEGER NOT NULL,
	cache_hits  INTEGER NOT NULL,
	tokens_in   INTEGER NOT NULL,
	tokens_out  INTEGER NOT NULL,
	cost_micros INTEGER NOT NULL,
	PRIMARY KEY (tenant, day, key_id, provider, model)
) STRICT, WITHOUT ROWID;
