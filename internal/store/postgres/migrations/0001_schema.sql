-- The schema of Crispy Enigma on PostgreSQL: the same tables as the SQLite
-- backend's, in the schema Options.Schema. Times are unix milliseconds
-- (bigint) and durations microseconds, as in SQLite, so that both backends
-- bound and round them alike. Every text column that is sorted or compared
-- uses the "C" collation: IDs, keys and days sort in byte order, whatever
-- the database's locale.
--
-- Every table holding tenant data has row-level security, FORCEd so that
-- it binds the tables' owner too: a row is visible, and may be written,
-- only in a transaction that set crispy.tenant to the row's tenant (the
-- store does so with set_config(..., true), local to the transaction).
-- Without it, current_setting returns NULL or '', which matches no row.
-- The roles crispy_app (what the store runs as) and crispy_sweeper (what
-- the sweep of expired rows runs as) exist before this file runs: Open
-- creates them.

-- KV store: one row per (tenant, key); keys are opaque bytes. expires_at
-- is NULL when the value does not expire.
CREATE TABLE kv (
	tenant     text COLLATE "C" NOT NULL,
	key        bytea  NOT NULL,
	value      bytea  NOT NULL,
	expires_at bigint,
	PRIMARY KEY (tenant, key)
);
CREATE INDEX kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;

-- Usage ledger: one row per model call, appended and never updated. id
-- keeps the order in which rows were appended.
CREATE TABLE usage (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant      text COLLATE "C" NOT NULL,
	ts          bigint  NOT NULL,
	request_id  text    NOT NULL,
	key_id      text    NOT NULL,
	route       text    NOT NULL,
	provider    text    NOT NULL,
	model       text    NOT NULL,
	attempts    integer NOT NULL,
	fallback    boolean NOT NULL,
	status      text    NOT NULL,
	error_kind  text    NOT NULL,
	latency_us  bigint  NOT NULL,
	ttft_us     bigint  NOT NULL,
	tokens_in   bigint  NOT NULL,
	tokens_out  bigint  NOT NULL,
	estimated   boolean NOT NULL,
	cost_micros bigint  NOT NULL,
	cache_hit   boolean NOT NULL,
	tts_chars   bigint  NOT NULL
);
CREATE INDEX usage_tenant_ts ON usage (tenant, ts, id);

-- Daily rollup of the ledger, kept by the transaction that appends to it:
-- one row per tenant, UTC day (YYYY-MM-DD), key, provider and model. A sum
-- that would overflow a bigint fails the transaction.
CREATE TABLE usage_daily (
	tenant      text COLLATE "C" NOT NULL,
	day         text COLLATE "C" NOT NULL,
	key_id      text COLLATE "C" NOT NULL,
	provider    text COLLATE "C" NOT NULL,
	model       text COLLATE "C" NOT NULL,
	requests    bigint NOT NULL,
	errors      bigint NOT NULL,
	fallbacks   bigint NOT NULL,
	cache_hits  bigint NOT NULL,
	tokens_in   bigint NOT NULL,
	tokens_out  bigint NOT NULL,
	cost_micros bigint NOT NULL,
	tts_chars   bigint NOT NULL,
	PRIMARY KEY (tenant, day, key_id, provider, model)
);

-- Chat sessions. last_seq is the Seq of the newest message ever appended
-- and count the number kept: the kept messages are the Seqs
-- last_seq-count+1 to last_seq. owner is who created the session.
CREATE TABLE sessions (
	tenant   text COLLATE "C" NOT NULL,
	id       text COLLATE "C" NOT NULL,
	created  bigint NOT NULL,
	updated  bigint NOT NULL,
	last_seq bigint NOT NULL,
	count    bigint NOT NULL,
	owner    text   NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX sessions_tenant_updated ON sessions (tenant, updated);

CREATE TABLE messages (
	tenant     text COLLATE "C" NOT NULL,
	session    text COLLATE "C" NOT NULL,
	seq        bigint  NOT NULL,
	role       text    NOT NULL,
	content    text    NOT NULL,
	incomplete boolean NOT NULL,
	model      text    NOT NULL,
	request_id text    NOT NULL,
	tokens_in  bigint  NOT NULL,
	tokens_out bigint  NOT NULL,
	time       bigint  NOT NULL,
	PRIMARY KEY (tenant, session, seq)
);

-- Idempotency records of chat turns, written in the turn's transaction.
-- seq is the Seq of the turn's first message; a record is ignored from
-- expires on, and swept later.
CREATE TABLE idempotency (
	tenant  text COLLATE "C" NOT NULL,
	key     bytea  NOT NULL,
	hash    text   NOT NULL,
	result  bytea  NOT NULL,
	seq     bigint NOT NULL,
	expires bigint NOT NULL,
	PRIMARY KEY (tenant, key)
);
CREATE INDEX idempotency_expires ON idempotency (expires);

-- Knowledge bases. metadata is a JSON object and heading_path a JSON
-- array, as text; vector holds the embedding as little-endian float32s,
-- NULL when there is none (no pgvector needed).
CREATE TABLE documents (
	tenant          text COLLATE "C" NOT NULL,
	id              text COLLATE "C" NOT NULL,
	title           text    NOT NULL,
	url             text    NOT NULL,
	format          text    NOT NULL,
	metadata        text    NOT NULL,
	hash            text    NOT NULL,
	embedding_model text    NOT NULL,
	bytes           bigint  NOT NULL,
	chunks          integer NOT NULL,
	uploaded_by     text    NOT NULL,
	created         bigint  NOT NULL,
	updated         bigint  NOT NULL,
	PRIMARY KEY (tenant, id)
);

CREATE TABLE chunks (
	tenant       text COLLATE "C" NOT NULL,
	doc_id       text COLLATE "C" NOT NULL,
	ordinal      integer NOT NULL,
	id           text    NOT NULL,
	heading_path text    NOT NULL,
	text         text    NOT NULL,
	start        bigint  NOT NULL,
	"end"        bigint  NOT NULL,
	tokens       integer NOT NULL,
	hash         text    NOT NULL,
	vector       bytea,
	PRIMARY KEY (tenant, doc_id, ordinal)
);

-- The corpus version of each tenant, incremented by every change to its
-- documents, and what its knowledge base holds, kept by the same
-- transactions so that quotas are checked without counting rows. A tenant
-- without a row is at version 0 and holds nothing. Its row is also the lock
-- that orders a tenant's document writes.
CREATE TABLE corpus (
	tenant    text COLLATE "C" NOT NULL PRIMARY KEY,
	version   bigint NOT NULL,
	documents bigint NOT NULL DEFAULT 0,
	chunks    bigint NOT NULL DEFAULT 0,
	bytes     bigint NOT NULL DEFAULT 0
);

-- Audit log of tool invocations, numbered per tenant.
CREATE TABLE audit (
	tenant      text COLLATE "C" NOT NULL,
	id          bigint  NOT NULL,
	ts          bigint  NOT NULL,
	request_id  text    NOT NULL,
	key_id      text    NOT NULL,
	tool        text COLLATE "C" NOT NULL,
	args_sha256 text    NOT NULL,
	outcome     text    NOT NULL,
	error_code  text    NOT NULL,
	latency_us  bigint  NOT NULL,
	from_model  boolean NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX audit_tenant_tool_id ON audit (tenant, tool, id);
CREATE INDEX audit_tenant_ts ON audit (tenant, ts);

-- The last audit ID given to each tenant; retention never deletes it.
CREATE TABLE audit_seq (
	tenant text COLLATE "C" NOT NULL PRIMARY KEY,
	last   bigint NOT NULL
);

-- Row-level security: every table above is a tenant table.
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['kv', 'usage', 'usage_daily', 'sessions', 'messages', 'idempotency',
		'documents', 'chunks', 'corpus', 'audit', 'audit_seq']
	LOOP
		EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
		EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
			USING (tenant = current_setting('crispy.tenant', true))
			WITH CHECK (tenant = current_setting('crispy.tenant', true))$p$, t);
		EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO crispy_app', t);
	END LOOP;
	EXECUTE format('GRANT USAGE ON SCHEMA %I TO crispy_app, crispy_sweeper', current_schema());
END
$$;
GRANT USAGE ON SEQUENCE usage_id_seq TO crispy_app;

-- The sweeper sees and deletes the rows that expire, of every tenant, and
-- nothing else: KV values and idempotency records with an expiry. The
-- policies hold for the role itself, set with SET ROLE, not for the roles
-- that are members of it (the tables' owner is, to be able to set it).
GRANT SELECT, DELETE ON kv, idempotency TO crispy_sweeper;
CREATE POLICY sweep_expiring ON kv FOR ALL TO crispy_sweeper
	USING (current_user = 'crispy_sweeper' AND expires_at IS NOT NULL);
CREATE POLICY sweep_expiring ON idempotency FOR ALL TO crispy_sweeper
	USING (current_user = 'crispy_sweeper');
