-- Knowledge bases: one row per (tenant, id) document. metadata is a JSON
-- object of string, number and boolean values; created and updated are in
-- unix milliseconds; chunks is the number of rows the document has in the
-- chunks table, which the same transaction writes.
CREATE TABLE documents (
	tenant          TEXT    NOT NULL,
	id              TEXT    NOT NULL,
	title           TEXT    NOT NULL,
	url             TEXT    NOT NULL,
	format          TEXT    NOT NULL,
	metadata        TEXT    NOT NULL,
	hash            TEXT    NOT NULL,
	embedding_model TEXT    NOT NULL,
	bytes           INTEGER NOT NULL,
	chunks          INTEGER NOT NULL,
	uploaded_by     TEXT    NOT NULL,
	created         INTEGER NOT NULL,
	updated         INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
) STRICT, WITHOUT ROWID;

-- The chunks of the documents, replaced and deleted with them. heading_path
-- is a JSON array of strings; start and end are byte offsets in the
-- document's extracted text; vector holds the embedding as little-endian
-- IEEE 754 float32s, NULL when there is none. A table with a rowid rather
-- than WITHOUT ROWID, since a row with its vector takes a few kilobytes.
CREATE TABLE chunks (
	tenant       TEXT    NOT NULL,
	doc_id       TEXT    NOT NULL,
	ordinal      INTEGER NOT NULL,
	id           TEXT    NOT NULL,
	heading_path TEXT    NOT NULL,
	text         TEXT    NOT NULL,
	start        INTEGER NOT NULL,
	"end"        INTEGER NOT NULL,
	tokens       INTEGER NOT NULL,
	hash         TEXT    NOT NULL,
	vector       BLOB,
	PRIMARY KEY (tenant, doc_id, ordinal)
) STRICT;

-- The corpus version of each tenant, incremented by every change to its
-- documents. A tenant without a row is at version 0.
CREATE TABLE corpus (
	tenant  TEXT    NOT NULL PRIMARY KEY,
	version INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
