package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/vecbytes"
)

// CorpusChannel is the channel of the notification that every change to a
// tenant's documents sends when it commits, with the payload
// "<schema> <tenant> <version>": replicas that LISTEN learn that their
// in-process index of the tenant is behind.
const CorpusChannel = "crispy_corpus"

// Queries on the documents, chunks and corpus tables. Every one is filtered
// by tenant; times are in unix milliseconds.
const (
	documentColumns = `id, title, url, format, metadata, hash, embedding_model, bytes, chunks, uploaded_by, created, updated`
	// documentsPut creates documents or replaces every field of them but
	// created, one a row of the arrays.
	documentsPut = `INSERT INTO documents (tenant, ` + documentColumns + `)
SELECT $1, id, title, url, format, metadata, hash, embedding_model, bytes, chunks, uploaded_by, $12, $12
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
	$9::bigint[], $10::bigint[], $11::text[])
	AS u (id, title, url, format, metadata, hash, embedding_model, bytes, chunks, uploaded_by)
ON CONFLICT (tenant, id) DO UPDATE SET
	title           = excluded.title,
	url             = excluded.url,
	format          = excluded.format,
	metadata        = excluded.metadata,
	hash            = excluded.hash,
	embedding_model = excluded.embedding_model,
	bytes           = excluded.bytes,
	chunks          = excluded.chunks,
	uploaded_by     = excluded.uploaded_by,
	updated         = excluded.updated`
	documentsSize  = `SELECT id, chunks, bytes FROM documents WHERE tenant = $1 AND id = ANY($2::text[])`
	documentGet    = `SELECT ` + documentColumns + ` FROM documents WHERE tenant = $1 AND id = $2`
	documentsPage  = `SELECT ` + documentColumns + ` FROM documents WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`
	scanSizes      = `SELECT id, chunks FROM documents WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`
	documentsRange = `SELECT ` + documentColumns + ` FROM documents WHERE tenant = $1 AND id > $2 AND id <= $3 ORDER BY id`
	// documentDelete deletes a document, its chunks and counts the change,
	// in one statement that runs once corpusLock holds the tenant's row:
	// its snapshot holds every put of the document that committed.
	documentDelete = `WITH doc AS (
	DELETE FROM documents WHERE tenant = $1 AND id = $2 RETURNING chunks, bytes
), gone AS (
	DELETE FROM chunks WHERE tenant = $1 AND doc_id = $2 AND EXISTS (SELECT 1 FROM doc)
), v AS (
	UPDATE corpus SET version = version + 1, documents = documents - 1,
		chunks = corpus.chunks - doc.chunks, bytes = corpus.bytes - doc.bytes
	FROM doc WHERE corpus.tenant = $1
	RETURNING version
), change AS (
	INSERT INTO corpus_changes (tenant, version, doc_id, deleted) SELECT $1, version, $2, true FROM v
), pruned AS (
	DELETE FROM corpus_changes WHERE tenant = $1 AND version <= (SELECT version FROM v) - $4
)
SELECT version, pg_notify('` + CorpusChannel + `', $3 || ' ' || $1 || ' ' || version) FROM v`

	chunkColumns = `doc_id, ordinal, id, heading_path, text, start, "end", tokens, hash, vector`
	chunksInsert = `INSERT INTO chunks (tenant, ` + chunkColumns + `)
SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
	$7::bigint[], $8::bigint[], $9::bigint[], $10::text[], $11::bytea[])`
	chunksDelete = `DELETE FROM chunks WHERE tenant = $1 AND doc_id = ANY($2::text[])`
	// chunksOf reads a document's chunk count and its chunks in one
	// statement, so one snapshot: a row with a NULL ordinal when it has no
	// chunk, none when it does not exist.
	chunksOf = `SELECT d.chunks, c.ordinal, coalesce(c.id, ''), coalesce(c.heading_path, ''), coalesce(c.text, ''),
	coalesce(c.start, 0), coalesce(c."end", 0), coalesce(c.tokens, 0), coalesce(c.hash, ''), c.vector
FROM documents d LEFT JOIN chunks c ON c.tenant = d.tenant AND c.doc_id = d.id
WHERE d.tenant = $1 AND d.id = $2
ORDER BY c.ordinal`
	chunksRange = `SELECT ` + chunkColumns + ` FROM chunks WHERE tenant = $1 AND doc_id > $2 AND doc_id <= $3 ORDER BY doc_id, ordinal`

	// corpusLock creates a tenant's corpus row when it has none and locks
	// it until the transaction ends, returning its totals: the writers of a
	// tenant's documents take it first, so they run one at a time and
	// their quota checks see each other's writes.
	corpusLock = `INSERT INTO corpus (tenant, version) VALUES ($1, 0)
ON CONFLICT (tenant) DO UPDATE SET version = corpus.version
RETURNING documents, chunks, bytes`
	corpusLockDelete = `SELECT 1 FROM corpus WHERE tenant = $1 FOR UPDATE`
	// corpusAdd counts the puts of a transaction.
	corpusAdd = `WITH v AS (
	UPDATE corpus SET version = version + $2, documents = documents + $3, chunks = chunks + $4, bytes = bytes + $5
	WHERE tenant = $1
	RETURNING version
)
SELECT version, pg_notify('` + CorpusChannel + `', $6 || ' ' || $1 || ' ' || version) FROM v`
	// changesInsert records the puts of a transaction in the feed, from
	// the version before corpusAdd on, one a document in order; changesPrune
	// then deletes the changes older than the latest $3 versions.
	changesInsert = `INSERT INTO corpus_changes (tenant, version, doc_id, deleted)
SELECT $1, c.version + u.n, u.id, false
FROM corpus c, unnest($2::text[]) WITH ORDINALITY AS u (id, n)
WHERE c.tenant = $1`
	changesPrune = `DELETE FROM corpus_changes
WHERE tenant = $1 AND version <= (SELECT version FROM corpus WHERE tenant = $1) + $2 - $3`
	// changesAfter reads the corpus version and the changes after $2 in
	// one statement, so one snapshot: a row with NULL change columns when
	// there is no change.
	changesAfter = `WITH c AS (SELECT coalesce(max(version), 0) AS version FROM corpus WHERE tenant = $1)
SELECT c.version, ch.version, ch.doc_id, ch.deleted
FROM c LEFT JOIN LATERAL (
	SELECT version, doc_id, deleted FROM corpus_changes
	WHERE tenant = $1 AND version > $2 ORDER BY version LIMIT $3
) ch ON true
ORDER BY ch.version`
	corpusGet = `SELECT version FROM corpus WHERE tenant = $1`
	totalsGet = `SELECT documents, chunks, bytes FROM corpus WHERE tenant = $1`
)

const (
	// defaultDocumentsPage is the number of documents Documents returns at
	// most when its limit is zero or negative.
	defaultDocumentsPage = 100
	// scanPageDocuments and scanPageChunks bound a page of ScanDocuments:
	// at most that many documents, and no more chunks than that unless a
	// single document has more.
	scanPageDocuments = 256
	scanPageChunks    = 1024
)

// Documents is the store.Documents kept in a DB, in the tables documents,
// chunks and corpus. A tenant's writes take its corpus row's lock first,
// so that they run one at a time across replicas; reads run one statement,
// or a read-only repeatable-read transaction, and so see one state.
//
// Times are kept at millisecond precision and come back in UTC. Metadata is
// kept as JSON text. Text must be UTF-8 without NUL (what PostgreSQL's text
// holds): other text is store.ErrInvalid. Vectors are kept as
// little-endian float32s in a bytea and come back bit for bit.
type Documents struct {
	db *DB
}

var _ store.Documents = (*Documents)(nil)

// PutDocument stores doc and replaces all of its chunks in one transaction,
// durable when it returns, and returns tenant t's new corpus version. The
// document keeps the Created time of the one it replaces, if any, and gets
// the DB's clock (Options.Now), truncated to the millisecond, as Updated;
// doc.Chunks is ignored: the store records len(chunks).
func (d *Documents) PutDocument(ctx context.Context, t tenant.ID, doc store.DocumentRecord, chunks []store.StoredChunk) (int64, error) {
	return d.PutDocuments(ctx, t, []store.DocumentPut{{Doc: doc, Chunks: chunks}}, store.DocumentQuota{})
}

// documentColumnsIn holds the documents of a put column by column.
type documentColumnsIn struct {
	id, title, url, format, metadata, hash, model, uploadedBy []string
	bytes, chunks                                             []int64
}

// chunkColumnsIn holds the chunks of a put column by column.
type chunkColumnsIn struct {
	docID, id, heading, text, hash []string
	ordinal, start, end, tokens    []int64
	vector                         [][]byte
}

// PutDocuments is PutDocument for several documents in one transaction.
// Every document is checked before anything is written. The tenant's
// totals are read under its corpus lock and the quota checked before any
// row is written; the documents and their chunks are then written with one
// statement each, whatever their number.
func (d *Documents) PutDocuments(ctx context.Context, t tenant.ID, puts []store.DocumentPut, quota store.DocumentQuota) (int64, error) {
	var docs documentColumnsIn
	var cks chunkColumnsIn
	seen := make(map[string]bool, len(puts))
	for _, p := range puts {
		if err := store.CheckDocument(t, p.Doc, p.Chunks); err != nil {
			return 0, fmt.Errorf("postgres: put document: %w", err)
		}
		if seen[p.Doc.ID] {
			return 0, fmt.Errorf("postgres: put documents: %w: document %q is put twice", store.ErrInvalid, p.Doc.ID)
		}
		seen[p.Doc.ID] = true
		if err := store.CheckOrdinals(p.Chunks); err != nil {
			return 0, fmt.Errorf("postgres: put document: %w", err)
		}
		metadata, err := store.EncodeMetadata(p.Doc.Metadata)
		if err != nil {
			return 0, fmt.Errorf("postgres: put document: %w", err)
		}
		doc := p.Doc
		docs.id = append(docs.id, doc.ID)
		docs.title = append(docs.title, doc.Title)
		docs.url = append(docs.url, doc.URL)
		docs.format = append(docs.format, doc.Format)
		docs.metadata = append(docs.metadata, metadata)
		docs.hash = append(docs.hash, doc.Hash)
		docs.model = append(docs.model, doc.EmbeddingModel)
		docs.bytes = append(docs.bytes, doc.Bytes)
		docs.chunks = append(docs.chunks, int64(len(p.Chunks)))
		docs.uploadedBy = append(docs.uploadedBy, doc.UploadedBy)
		for i, c := range p.Chunks {
			heading, err := store.EncodeHeadingPath(c.HeadingPath)
			if err != nil {
				return 0, fmt.Errorf("postgres: put document: chunk %d: %w", i, err)
			}
			var vector []byte // NULL when empty
			if len(c.Vector) > 0 {
				vector = vecbytes.Append(make([]byte, 0, 4*len(c.Vector)), c.Vector)
			}
			cks.docID = append(cks.docID, c.DocID)
			cks.ordinal = append(cks.ordinal, int64(c.Ordinal))
			cks.id = append(cks.id, c.ID)
			cks.heading = append(cks.heading, heading)
			cks.text = append(cks.text, c.Text)
			cks.start = append(cks.start, int64(c.Start))
			cks.end = append(cks.end, int64(c.End))
			cks.tokens = append(cks.tokens, int64(c.Tokens))
			cks.hash = append(cks.hash, c.Hash)
			cks.vector = append(cks.vector, vector)
		}
	}
	if len(puts) == 0 {
		return 0, fmt.Errorf("postgres: put documents: %w: no documents", store.ErrInvalid)
	}
	if err := d.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("postgres: put document: %w", err)
	}
	now := d.db.now().UnixMilli()
	tenantID := t.String()

	tx, err := d.db.pool.Begin(ctx)
	if err != nil {
		return 0, d.db.fail(ctx, "put document", err)
	}
	defer tx.Rollback(ctx) // a no-op once committed

	b := tenantBatch(tenantID)
	b.Queue(corpusLock, tenantID)
	b.Queue(documentsSize, tenantID, docs.id)
	var before store.DocumentTotals
	old := make(map[string][2]int64, len(puts))
	err = func() error {
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&before.Documents, &before.Chunks, &before.Bytes); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		var id string
		var chunks, bytes int64
		_, err = pgx.ForEachRow(rows, []any{&id, &chunks, &bytes}, func() error {
			old[id] = [2]int64{chunks, bytes}
			return nil
		})
		if err != nil {
			return err
		}
		return br.Close()
	}()
	if err != nil {
		return 0, d.db.fail(ctx, "put document: totals", err)
	}

	var delta store.DocumentTotals
	for i, id := range docs.id {
		size, ok := old[id]
		if !ok {
			delta.Documents++
		}
		delta.Chunks += docs.chunks[i] - size[0]
		delta.Bytes += docs.bytes[i] - size[1]
	}
	after := store.DocumentTotals{Documents: before.Documents + delta.Documents, Chunks: before.Chunks + delta.Chunks, Bytes: before.Bytes + delta.Bytes}
	if err := quota.Check(before, after); err != nil {
		return 0, fmt.Errorf("postgres: put documents: %w", err)
	}

	b = &pgx.Batch{}
	b.Queue(documentsPut, tenantID, docs.id, docs.title, docs.url, docs.format, docs.metadata, docs.hash,
		docs.model, docs.bytes, docs.chunks, docs.uploadedBy, now)
	b.Queue(chunksDelete, tenantID, docs.id)
	if len(cks.id) > 0 {
		b.Queue(chunksInsert, tenantID, cks.docID, cks.ordinal, cks.id, cks.heading, cks.text,
			cks.start, cks.end, cks.tokens, cks.hash, cks.vector)
	}
	b.Queue(changesInsert, tenantID, docs.id)
	b.Queue(changesPrune, tenantID, len(puts), store.KeepChanges)
	b.Queue(corpusAdd, tenantID, len(puts), delta.Documents, delta.Chunks, delta.Bytes, d.db.schema)
	var version int64
	err = func() error {
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		for range b.Len() - 1 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		if err := br.QueryRow().Scan(&version, nil); err != nil {
			return err
		}
		return br.Close()
	}()
	if err != nil {
		return 0, d.db.fail(ctx, "put document", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, d.db.fail(ctx, "put document: commit", err)
	}
	return version, nil
}

// Totals returns what tenant t's knowledge base holds.
func (d *Documents) Totals(ctx context.Context, t tenant.ID) (store.DocumentTotals, error) {
	if t.IsZero() {
		return store.DocumentTotals{}, fmt.Errorf("postgres: totals: %w: tenant id is required", store.ErrInvalid)
	}
	if err := d.db.ready(ctx); err != nil {
		return store.DocumentTotals{}, fmt.Errorf("postgres: totals: %w", err)
	}
	var out store.DocumentTotals
	err := d.db.queryRow(ctx, t, totalsGet, t.String()).Scan(&out.Documents, &out.Chunks, &out.Bytes)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return store.DocumentTotals{}, d.db.fail(ctx, "totals", err)
	}
	return out, nil
}

// Document returns a document of tenant t, or store.ErrNotFound when t has
// no such document.
func (d *Documents) Document(ctx context.Context, t tenant.ID, id string) (store.DocumentRecord, error) {
	if err := store.CheckDocumentID(t, id); err != nil {
		return store.DocumentRecord{}, fmt.Errorf("postgres: document: %w", err)
	}
	if err := d.db.ready(ctx); err != nil {
		return store.DocumentRecord{}, fmt.Errorf("postgres: document: %w", err)
	}
	doc, err := scanDocument(d.db.queryRow(ctx, t, documentGet, t.String(), id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.DocumentRecord{}, store.ErrNotFound
	case err != nil:
		return store.DocumentRecord{}, d.db.fail(ctx, "document", err)
	}
	return doc, nil
}

// Documents returns up to limit documents of tenant t with ID > after, by
// ID in byte order. A limit of zero or less means 100, and one above
// store.MaxDocumentsPage means store.MaxDocumentsPage.
func (d *Documents) Documents(ctx context.Context, t tenant.ID, after string, limit int) ([]store.DocumentRecord, error) {
	if t.IsZero() {
		return nil, fmt.Errorf("postgres: documents: %w: tenant id is required", store.ErrInvalid)
	}
	if err := d.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: documents: %w", err)
	}
	switch {
	case limit <= 0:
		limit = defaultDocumentsPage
	case limit > store.MaxDocumentsPage:
		limit = store.MaxDocumentsPage
	}
	b := tenantBatch(t.String())
	b.Queue(documentsPage, t.String(), after, limit)
	br, err := d.db.send(ctx, b)
	if err != nil {
		return nil, d.db.fail(ctx, "documents", err)
	}
	defer br.Close()
	docs, err := queryDocuments(br)
	if err != nil {
		return nil, d.db.fail(ctx, "documents", err)
	}
	return docs, nil
}

// DeleteDocument deletes a document of tenant t and its chunks and returns
// t's new corpus version, or store.ErrNotFound, leaving the version alone,
// when t has no such document. It is one round trip: the tenant, the lock
// of its corpus row and the delete in one transaction.
func (d *Documents) DeleteDocument(ctx context.Context, t tenant.ID, id string) (int64, error) {
	if err := store.CheckDocumentID(t, id); err != nil {
		return 0, fmt.Errorf("postgres: delete document: %w", err)
	}
	if err := d.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("postgres: delete document: %w", err)
	}
	tenantID := t.String()
	b := tenantBatch(tenantID)
	b.Queue(corpusLockDelete, tenantID)
	b.Queue(documentDelete, tenantID, id, d.db.schema, store.KeepChanges)
	br, err := d.db.send(ctx, b)
	if err != nil {
		return 0, d.db.fail(ctx, "delete document", err)
	}
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return 0, d.db.fail(ctx, "delete document", err)
	}
	var version int64
	switch err := br.QueryRow().Scan(&version, nil); {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, store.ErrNotFound
	case err != nil:
		return 0, d.db.fail(ctx, "delete document", err)
	}
	if err := br.Close(); err != nil {
		return 0, d.db.fail(ctx, "delete document: commit", err)
	}
	return version, nil
}

// Chunks returns the chunks of a document of tenant t by ordinal, an empty
// slice when it has none, or store.ErrNotFound when t has no such
// document. The document and its chunks are read by one statement, so the
// chunks are all of one PutDocument.
func (d *Documents) Chunks(ctx context.Context, t tenant.ID, docID string) ([]store.StoredChunk, error) {
	if err := store.CheckDocumentID(t, docID); err != nil {
		return nil, fmt.Errorf("postgres: chunks: %w", err)
	}
	if err := d.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: chunks: %w", err)
	}
	b := tenantBatch(t.String())
	b.Queue(chunksOf, t.String(), docID)
	br, err := d.db.send(ctx, b)
	if err != nil {
		return nil, d.db.fail(ctx, "chunks", err)
	}
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, d.db.fail(ctx, "chunks", err)
	}
	defer rows.Close()
	var chunks []store.StoredChunk
	found := false
	for rows.Next() {
		var n int
		var ordinal *int64
		var heading, vector []byte
		c := store.StoredChunk{DocID: docID}
		if err := rows.Scan(&n, &ordinal, &c.ID, &heading, &c.Text, &c.Start, &c.End, &c.Tokens, &c.Hash, &vector); err != nil {
			return nil, d.db.fail(ctx, "chunks", err)
		}
		if !found {
			found = true
			chunks = make([]store.StoredChunk, 0, n)
		}
		if ordinal == nil {
			continue // no chunk
		}
		c.Ordinal = int(*ordinal)
		if err := decodeChunk(&c, heading, vector); err != nil {
			return nil, d.db.fail(ctx, "chunks", err)
		}
		chunks = append(chunks, c)
	}
	if err := rows.Err(); err != nil {
		return nil, d.db.fail(ctx, "chunks", err)
	}
	if !found {
		return nil, store.ErrNotFound
	}
	return chunks, nil
}

// ScanDocuments calls fn with every document of tenant t and its chunks,
// by document ID, until fn returns an error, which it returns as is. It
// reads the documents in pages of at most 256 documents and, unless one
// document has more, 1024 chunks, each page in a read-only transaction of
// its own (one snapshot) that ends before fn is called: every document
// comes with the chunks of the same PutDocument, but a document changed
// after its page was read is seen as it was. fn may call the store.
func (d *Documents) ScanDocuments(ctx context.Context, t tenant.ID, fn func(store.DocumentRecord, []store.StoredChunk) error) error {
	switch {
	case t.IsZero():
		return fmt.Errorf("postgres: scan documents: %w: tenant id is required", store.ErrInvalid)
	case fn == nil:
		return fmt.Errorf("postgres: scan documents: %w: no function", store.ErrInvalid)
	}
	tenantID := t.String()
	after := ""
	for {
		if err := d.db.ready(ctx); err != nil {
			return fmt.Errorf("postgres: scan documents: %w", err)
		}
		docs, chunks, more, err := d.scanPage(ctx, tenantID, after)
		if err != nil {
			return d.db.fail(ctx, "scan documents", err)
		}
		for i, doc := range docs {
			if err := fn(doc, chunks[i]); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
		after = docs[len(docs)-1].ID
	}
}

// scanPage reads the page of ScanDocuments that follows the document ID
// after: the documents, the chunks of each and whether more documents may
// follow.
func (d *Documents) scanPage(ctx context.Context, tenantID, after string) ([]store.DocumentRecord, [][]store.StoredChunk, bool, error) {
	tx, err := d.db.pool.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, nil, false, err
	}
	defer tx.Rollback(ctx) // it wrote nothing: there is nothing to commit

	b := tenantBatch(tenantID)
	b.Queue(scanSizes, tenantID, after, scanPageDocuments)
	var n, total int
	var last string
	more := false
	err = func() error {
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var chunks int
			if err := rows.Scan(&id, &chunks); err != nil {
				return err
			}
			if n > 0 && total+chunks > scanPageChunks {
				more = true
				break
			}
			n, total, last = n+1, total+chunks, id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if !more {
			more = n == scanPageDocuments
		}
		return br.Close()
	}()
	if err != nil || n == 0 {
		return nil, nil, false, err
	}

	b = &pgx.Batch{}
	b.Queue(documentsRange, tenantID, after, last)
	b.Queue(chunksRange, tenantID, after, last)
	var docs []store.DocumentRecord
	var chunks [][]store.StoredChunk
	err = func() error {
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		var err error
		if docs, err = queryDocuments(br); err != nil {
			return err
		}
		if len(docs) != n {
			return fmt.Errorf("%d documents up to %q, then %d", n, last, len(docs))
		}
		// Each document gets a slice of its own, so that keeping the
		// chunks of one keeps none of the others'.
		chunks = make([][]store.StoredChunk, len(docs))
		for i, doc := range docs {
			chunks[i] = make([]store.StoredChunk, 0, doc.Chunks)
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		i := 0
		for rows.Next() {
			var c store.StoredChunk
			var heading, vector []byte
			if err := rows.Scan(&c.DocID, &c.Ordinal, &c.ID, &heading, &c.Text, &c.Start, &c.End, &c.Tokens, &c.Hash, &vector); err != nil {
				return err
			}
			if err := decodeChunk(&c, heading, vector); err != nil {
				return err
			}
			for i < len(docs) && docs[i].ID != c.DocID { // both are by document ID
				i++
			}
			if i == len(docs) {
				return fmt.Errorf("chunk %q belongs to no document", c.ID)
			}
			chunks[i] = append(chunks[i], c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return br.Close()
	}()
	if err != nil {
		return nil, nil, false, err
	}
	for i, doc := range docs {
		if len(chunks[i]) != doc.Chunks {
			return nil, nil, false, fmt.Errorf("document %q has %d chunks, its row says %d", doc.ID, len(chunks[i]), doc.Chunks)
		}
	}
	return docs, chunks, more, tx.Commit(ctx)
}

// CorpusVersion returns tenant t's corpus version: 0 before its first
// change.
func (d *Documents) CorpusVersion(ctx context.Context, t tenant.ID) (int64, error) {
	if t.IsZero() {
		return 0, fmt.Errorf("postgres: corpus version: %w: tenant id is required", store.ErrInvalid)
	}
	if err := d.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("postgres: corpus version: %w", err)
	}
	var version int64
	switch err := d.db.queryRow(ctx, t, corpusGet, t.String()).Scan(&version); {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, d.db.fail(ctx, "corpus version", err)
	}
	return version, nil
}

// Changes returns up to limit changes of tenant t's knowledge base with a
// version above after, by version, or store.ErrPruned when the feed no
// longer reaches back to after. The corpus version and the changes are read
// by one statement, so one snapshot.
func (d *Documents) Changes(ctx context.Context, t tenant.ID, after int64, limit int) ([]store.DocumentChange, error) {
	limit, err := store.CheckChanges(t, after, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: changes: %w", err)
	}
	if err := d.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: changes: %w", err)
	}
	b := tenantBatch(t.String())
	b.Queue(changesAfter, t.String(), after, limit)
	br, err := d.db.send(ctx, b)
	if err != nil {
		return nil, d.db.fail(ctx, "changes", err)
	}
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, d.db.fail(ctx, "changes", err)
	}
	var version int64
	var changes []store.DocumentChange
	var v *int64
	var id *string
	var deleted *bool
	_, err = pgx.ForEachRow(rows, []any{&version, &v, &id, &deleted}, func() error {
		if v != nil {
			changes = append(changes, store.DocumentChange{Version: *v, DocID: *id, Deleted: *deleted})
		}
		return nil
	})
	if err != nil {
		return nil, d.db.fail(ctx, "changes", err)
	}
	if err := br.Close(); err != nil {
		return nil, d.db.fail(ctx, "changes", err)
	}
	changes, err = store.ChangesAfter(after, version, changes)
	if err != nil {
		return nil, fmt.Errorf("postgres: changes: %w", err)
	}
	return changes, nil
}

// queryDocuments reads the next result of br, which selects
// documentColumns.
func queryDocuments(br pgx.BatchResults) ([]store.DocumentRecord, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	docs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.DocumentRecord, error) {
		return scanDocument(row)
	})
	if len(docs) == 0 {
		docs = nil
	}
	return docs, err
}

// scanDocument reads a row of documentColumns.
func scanDocument(row pgx.Row) (store.DocumentRecord, error) {
	var doc store.DocumentRecord
	var metadata []byte
	var created, updated int64
	err := row.Scan(&doc.ID, &doc.Title, &doc.URL, &doc.Format, &metadata, &doc.Hash, &doc.EmbeddingModel,
		&doc.Bytes, &doc.Chunks, &doc.UploadedBy, &created, &updated)
	if err != nil {
		return store.DocumentRecord{}, err
	}
	if doc.Metadata, err = store.DecodeMetadata(metadata); err != nil {
		return store.DocumentRecord{}, fmt.Errorf("document %q: metadata: %w", doc.ID, err)
	}
	doc.Created = time.UnixMilli(created).UTC()
	doc.Updated = time.UnixMilli(updated).UTC()
	return doc, nil
}

// decodeChunk sets the heading path and vector of c from their columns.
func decodeChunk(c *store.StoredChunk, heading, vector []byte) error {
	var err error
	if c.HeadingPath, err = store.DecodeHeadingPath(heading); err != nil {
		return fmt.Errorf("chunk %q: heading path: %w", c.ID, err)
	}
	if c.Vector, err = vecbytes.Decode(vector); err != nil {
		return fmt.Errorf("chunk %q: %w", c.ID, err)
	}
	return nil
}
