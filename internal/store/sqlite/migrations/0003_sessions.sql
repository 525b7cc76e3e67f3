-- Chat sessions: one row per (tenant, id). created and updated are in unix
-- milliseconds; last_seq is the Seq of the newest message ever appended and
-- count the number of messages kept. Retention drops the oldest messages
-- only, so the kept messages are always the Seqs last_seq-count+1 to
-- last_seq.
CREATE TABLE sessions (
	tenant   TEXT    NOT NULL,
	id       TEXT    NOT NULL,
	created  INTEGER NOT NULL,
	updated  INTEGER NOT NULL,
	last_seq INTEGER NOT NULL,
	count    INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
) STRICT, WITHOUT ROWID;

-- Lets DeleteIdleSessions find a tenant's idle sessions, oldest first,
-- without scanning the table.
CREATE INDEX sessions_tenant_updated ON sessions (tenant, updated);

-- The messages of the sessions, deleted with them. time is in unix
-- milliseconds; incomplete is 0 or 1. A table with a rowid rather than
-- WITHOUT ROWID, since a message may be as large as 1 MiB.
CREATE TABLE messages (
	tenant     TEXT    NOT NULL,
	session    TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	role       TEXT    NOT NULL,
	content    TEXT    NOT NULL,
	incomplete INTEGER NOT NULL,
	model      TEXT    NOT NULL,
	request_id TEXT    NOT NULL,
	tokens_in  INTEGER NOT NULL,
	tokens_out INTEGER NOT NULL,
	time       INTEGER NOT NULL,
	PRIMARY KEY (tenant, session, seq)
) STRICT;
