-- Who created a session: "" for the sessions created before owners were
-- kept. The chat service decides what an owner string means.
ALTER TABLE sessions ADD COLUMN owner TEXT NOT NULL DEFAULT '';

-- Idempotency records: the result of a chat turn kept under its caller's
-- key, written in the turn's own transaction so that a turn and its record
-- are committed together. seq is the Seq of the first message the turn
-- appended. expires is in unix milliseconds; a record is ignored from then
-- on, and swept later. A table with a rowid rather than WITHOUT ROWID,
-- since a result may be as large as 1 MiB.
CREATE TABLE idempotency (
	tenant  TEXT    NOT NULL,
	key     TEXT    NOT NULL,
	hash    TEXT    NOT NULL,
	result  BLOB    NOT NULL,
	seq     INTEGER NOT NULL,
	expires INTEGER NOT NULL,
	PRIMARY KEY (tenant, key)
) STRICT;

-- Lets the sweep find expired records without scanning the table.
CREATE INDEX idempotency_expires ON idempotency (expires);
