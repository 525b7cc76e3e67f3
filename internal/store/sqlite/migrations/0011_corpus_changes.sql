-- The change feed of each tenant's knowledge base: the document that each
-- corpus version put or deleted, written by the transaction that made the
-- version, so that an index held in memory catches up by reading the
-- changes after its version instead of everything. Each write deletes the
-- changes older than the latest store.KeepChanges versions; a reader
-- further behind reads the knowledge base whole. Corpus versions made
-- before this table have no change: they read as pruned.
CREATE TABLE corpus_changes (
	tenant  TEXT    NOT NULL,
	version INTEGER NOT NULL,
	doc_id  TEXT    NOT NULL,
	deleted INTEGER NOT NULL,
	PRIMARY KEY (tenant, version)
) STRICT, WITHOUT ROWID;
