-- What each tenant's knowledge base holds, kept by every transaction that
-- puts or deletes documents, so that quotas are checked in that same
-- transaction without counting rows: the number of documents, their chunks,
-- and the bytes of their source texts.
ALTER TABLE corpus ADD COLUMN documents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE corpus ADD COLUMN chunks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE corpus ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
UPDATE corpus SET
	documents = (SELECT count(*) FROM documents d WHERE d.tenant = corpus.tenant),
	chunks = (SELECT coalesce(sum(d.chunks), 0) FROM documents d WHERE d.tenant = corpus.tenant),
	bytes = (SELECT coalesce(sum(d.bytes), 0) FROM documents d WHERE d.tenant = corpus.tenant);
