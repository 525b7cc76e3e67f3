-- The change feed of each tenant's knowledge base: the document that each
-- corpus version put or deleted, written by the transaction that made the
-- version, so that a replica catches its in-memory index up by reading the
-- changes after its version instead of everything. Each write deletes the
-- changes older than the latest store.KeepChanges versions; a replica
-- further behind reads the knowledge base whole. Corpus versions made
-- before this table have no change: they read as pruned.
CREATE TABLE corpus_changes (
	tenant  text COLLATE "C" NOT NULL,
	version bigint  NOT NULL,
	doc_id  text COLLATE "C" NOT NULL,
	deleted boolean NOT NULL,
	PRIMARY KEY (tenant, version)
);

ALTER TABLE corpus_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE corpus_changes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON corpus_changes
	USING (tenant = current_setting('crispy.tenant', true))
	WITH CHECK (tenant = current_setting('crispy.tenant', true));
GRANT SELECT, INSERT, DELETE ON corpus_changes TO crispy_app;
