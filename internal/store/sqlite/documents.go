package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/vecbytes"
)

// Queries on the documents, chunks and corpus tables. Every one is filtered
// by tenant; times are in unix milliseconds.
const (
	documentColumns = `id, title, url, format, metadata, hash, embedding_model, bytes, chunks, uploaded_by, created, updated`
	// documentPut creates a document or replaces every field of it but
	// created.
	documentPut = `INSERT INTO documents (tenant, ` + documentColumns + `)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)
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
	documentGet    = `SELECT ` + documentColumns + ` FROM documents WHERE tenant = ? AND id = ?`
	documentChunks = `SELECT chunks FROM documents WHERE tenant = ? AND id = ?`
	documentsPage  = `SELECT ` + documentColumns + ` FROM documents WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?`
	documentDelete = `DELETE FROM documents WHERE tenant = ? AND id = ? RETURNING chunks, bytes`
	documentSize   = `SELECT chunks, bytes FROM documents WHERE tenant = ? AND id = ?`
	// scanSizes and documentsRange select a page of ScanDocuments: the
	// sizes of the documents that may make it, then those that do.
	scanSizes      = `SELECT id, chunks FROM documents WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?`
	documentsRange = `SELECT ` + documentColumns + ` FROM documents WHERE tenant = ? AND id > ? AND id <= ? ORDER BY id`

	chunkColumns = `doc_id, ordinal, id, heading_path, text, start, "end", tokens, hash, vector`
	chunkInsert  = `INSERT INTO chunks (tenant, ` + chunkColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	chunksOf     = `SELECT ` + chunkColumns + ` FROM chunks WHERE tenant = ? AND doc_id = ? ORDER BY ordinal`
	// chunksRange selects the chunks of the documents with IDs in a range,
	// for ScanDocuments: one range scan of the primary key.
	chunksRange  = `SELECT ` + chunkColumns + ` FROM chunks WHERE tenant = ? AND doc_id > ? AND doc_id <= ? ORDER BY doc_id, ordinal`
	chunksDelete = `DELETE FROM chunks WHERE tenant = ? AND doc_id = ?`

	corpusBump = `INSERT INTO corpus (tenant, version) VALUES (?, 1)
ON CONFLICT (tenant) DO UPDATE SET version = version + 1
RETURNING version`
	corpusGet = `SELECT version FROM corpus WHERE tenant = ?`
	// totalsAdd changes the totals of a tenant whose corpus row exists.
	totalsAdd = `UPDATE corpus SET documents = documents + ?, chunks = chunks + ?, bytes = bytes + ?
WHERE tenant = ? RETURNING documents, chunks, bytes`
	totalsGet = `SELECT documents, chunks, bytes FROM corpus WHERE tenant = ?`

	// changeInsert records a version's change in the feed; changesPrune
	// deletes the changes up to a version; changesAfter reads them.
	changeInsert = `INSERT INTO corpus_changes (tenant, version, doc_id, deleted) VALUES (?, ?, ?, ?)`
	changesPrune = `DELETE FROM corpus_changes WHERE tenant = ? AND version <= ?`
	changesAfter = `SELECT version, doc_id, deleted FROM corpus_changes WHERE tenant = ? AND version > ? ORDER BY version LIMIT ?`
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
// chunks and corpus. Its writes are transactions of the writer connection;
// its reads go through the reader pool, each in a read transaction when it
// runs more than one query, so that it sees one state of the database.
//
// Times are kept at millisecond precision and come back in UTC. Metadata is
// kept as JSON: strings must be valid UTF-8 (invalid bytes come back as
// U+FFFD), and numbers must be finite. Vectors are kept as little-endian
// float32s and come back bit for bit.
type Documents struct {
	db *DB
}

var _ store.Documents = (*Documents)(nil)

// PutDocument stores doc and replaces all of its chunks in one transaction,
// durable when it returns, and returns tenant t's new corpus version. The
// document keeps the Created time of the one it replaces, if any, and gets
// the DB's clock (Options.Now), truncated to the millisecond, as Updated;
// the Created and Updated the caller set are ignored, and so is
// doc.Chunks: the store records len(chunks). Invalid arguments (see
// store.CheckDocument) return store.ErrInvalid and write nothing, and so do
// two chunks with the same Ordinal and a metadata number that is NaN or
// infinite, which JSON cannot hold.
func (d *Documents) PutDocument(ctx context.Context, t tenant.ID, doc store.DocumentRecord, chunks []store.StoredChunk) (int64, error) {
	return d.PutDocuments(ctx, t, []store.DocumentPut{{Doc: doc, Chunks: chunks}}, store.DocumentQuota{})
}

// PutDocuments is PutDocument for several documents in one transaction:
// one commit (and one sync of the log) for all of them. Every document is
// checked before anything is written.
func (d *Documents) PutDocuments(ctx context.Context, t tenant.ID, puts []store.DocumentPut, quota store.DocumentQuota) (int64, error) {
	type encoded struct {
		metadata string
		headings []string
	}
	enc := make([]encoded, len(puts))
	seen := make(map[string]bool, len(puts))
	for n, p := range puts {
		if err := store.CheckDocument(t, p.Doc, p.Chunks); err != nil {
			return 0, fmt.Errorf("sqlite: put document: %w", err)
		}
		if seen[p.Doc.ID] {
			return 0, fmt.Errorf("sqlite: put documents: %w: document %q is put twice", store.ErrInvalid, p.Doc.ID)
		}
		seen[p.Doc.ID] = true
		if err := store.CheckOrdinals(p.Chunks); err != nil {
			return 0, fmt.Errorf("sqlite: put document: %w", err)
		}
		var err error
		if enc[n].metadata, err = store.EncodeMetadata(p.Doc.Metadata); err != nil {
			return 0, fmt.Errorf("sqlite: put document: %w", err)
		}
		enc[n].headings = make([]string, len(p.Chunks))
		for i, c := range p.Chunks {
			if enc[n].headings[i], err = store.EncodeHeadingPath(c.HeadingPath); err != nil {
				return 0, fmt.Errorf("sqlite: put document: chunk %d: %w", i, err)
			}
		}
	}
	if len(puts) == 0 {
		return 0, fmt.Errorf("sqlite: put documents: %w: no documents", store.ErrInvalid)
	}
	if err := d.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("sqlite: put document: %w", err)
	}
	now := d.db.now().UnixMilli()
	tenantID := t.String()

	tx, err := d.db.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return 0, d.db.fail(ctx, "put document", err)
	}
	defer tx.Rollback() // a no-op once committed

	st := &d.db.stmts // prepared once at open: no SQL is parsed per document
	put, del, insert, bump, change := tx.StmtContext(ctx, st.documentPut), tx.StmtContext(ctx, st.chunksDelete),
		tx.StmtContext(ctx, st.chunkInsert), tx.StmtContext(ctx, st.corpusBump), tx.StmtContext(ctx, st.changeInsert)
	var vector []byte // reused: the driver copies what it binds
	var version int64
	var delta store.DocumentTotals
	for n, p := range puts {
		doc := p.Doc
		var oldChunks, oldBytes int64
		switch err := tx.StmtContext(ctx, st.documentSize).QueryRowContext(ctx, tenantID, doc.ID).Scan(&oldChunks, &oldBytes); {
		case errors.Is(err, sql.ErrNoRows):
			delta.Documents++
		case err != nil:
			return 0, d.db.fail(ctx, "put document: old size", err)
		}
		delta.Chunks += int64(len(p.Chunks)) - oldChunks
		delta.Bytes += doc.Bytes - oldBytes
		_, err = put.ExecContext(ctx, tenantID, doc.ID, doc.Title, doc.URL, doc.Format, enc[n].metadata,
			doc.Hash, doc.EmbeddingModel, doc.Bytes, len(p.Chunks), doc.UploadedBy, now)
		if err != nil {
			return 0, d.db.fail(ctx, "put document", err)
		}
		if _, err := del.ExecContext(ctx, tenantID, doc.ID); err != nil {
			return 0, d.db.fail(ctx, "put document: old chunks", err)
		}
		for i, c := range p.Chunks {
			vector = vecbytes.Append(vector[:0], c.Vector)
			_, err := insert.ExecContext(ctx, tenantID, c.DocID, c.Ordinal, c.ID, enc[n].headings[i], c.Text,
				c.Start, c.End, c.Tokens, c.Hash, nullBlob(vector))
			if err != nil {
				return 0, d.db.fail(ctx, fmt.Sprintf("put document: chunk %d", i), err)
			}
		}
		if err := bump.QueryRowContext(ctx, tenantID).Scan(&version); err != nil {
			return 0, d.db.fail(ctx, "put document: corpus version", err)
		}
		if _, err := change.ExecContext(ctx, tenantID, version, doc.ID, false); err != nil {
			return 0, d.db.fail(ctx, "put document: change", err)
		}
	}
	if err := pruneChanges(ctx, tx, tenantID, version); err != nil {
		return 0, d.db.fail(ctx, "put document: prune changes", err)
	}
	after, err := addTotals(ctx, tx, tenantID, delta)
	if err != nil {
		return 0, d.db.fail(ctx, "put document: totals", err)
	}
	before := store.DocumentTotals{Documents: after.Documents - delta.Documents, Chunks: after.Chunks - delta.Chunks, Bytes: after.Bytes - delta.Bytes}
	if err := quota.Check(before, after); err != nil {
		return 0, fmt.Errorf("sqlite: put documents: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, d.db.fail(ctx, "put document: commit", err)
	}
	return version, nil
}

// pruneChanges deletes the changes of the tenant's feed that are older
// than the latest store.KeepChanges versions, version being the latest.
func pruneChanges(ctx context.Context, tx *sql.Tx, tenantID string, version int64) error {
	if version <= store.KeepChanges {
		return nil
	}
	_, err := tx.ExecContext(ctx, changesPrune, tenantID, version-store.KeepChanges)
	return err
}

// addTotals adds delta to tenant's totals, whose corpus row exists, and
// returns them.
func addTotals(ctx context.Context, tx *sql.Tx, tenantID string, delta store.DocumentTotals) (store.DocumentTotals, error) {
	var out store.DocumentTotals
	err := tx.QueryRowContext(ctx, totalsAdd, delta.Documents, delta.Chunks, delta.Bytes, tenantID).Scan(&out.Documents, &out.Chunks, &out.Bytes)
	return out, err
}

// Totals returns what tenant t's knowledge base holds.
func (d *Documents) Totals(ctx context.Context, t tenant.ID) (store.DocumentTotals, error) {
	if t.IsZero() {
		return store.DocumentTotals{}, fmt.Errorf("sqlite: totals: %w: tenant id is required", store.ErrInvalid)
	}
	if err := d.db.ready(ctx); err != nil {
		return store.DocumentTotals{}, fmt.Errorf("sqlite: totals: %w", err)
	}
	var out store.DocumentTotals
	err := d.db.reader.QueryRowContext(ctx, totalsGet, t.String()).Scan(&out.Documents, &out.Chunks, &out.Bytes)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return out, d.db.fail(ctx, "totals", err)
	}
	return out, nil
}

// Document returns a document of tenant t, or store.ErrNotFound when t has
// no such document.
func (d *Documents) Document(ctx context.Context, t tenant.ID, id string) (store.DocumentRecord, error) {
	if err := store.CheckDocumentID(t, id); err != nil {
		return store.DocumentRecord{}, fmt.Errorf("sqlite: document: %w", err)
	}
	if err := d.db.ready(ctx); err != nil {
		return store.DocumentRecord{}, fmt.Errorf("sqlite: document: %w", err)
	}
	doc, err := scanDocument(d.db.stmts.documentGet.QueryRowContext(ctx, t.String(), id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
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
		return nil, fmt.Errorf("sqlite: documents: %w: tenant id is required", store.ErrInvalid)
	}
	if err := d.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: documents: %w", err)
	}
	switch {
	case limit <= 0:
		limit = defaultDocumentsPage
	case limit > store.MaxDocumentsPage:
		limit = store.MaxDocumentsPage
	}
	docs, err := queryDocuments(ctx, d.db.reader, documentsPage, min(limit, defaultDocumentsPage), t.String(), after, limit)
	if err != nil {
		return nil, d.db.fail(ctx, "documents", err)
	}
	return docs, nil
}

// DeleteDocument deletes a document of tenant t and its chunks and returns
// t's new corpus version, or store.ErrNotFound, leaving the version alone,
// when t has no such document.
func (d *Documents) DeleteDocument(ctx context.Context, t tenant.ID, id string) (int64, error) {
	if err := store.CheckDocumentID(t, id); err != nil {
		return 0, fmt.Errorf("sqlite: delete document: %w", err)
	}
	if err := d.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("sqlite: delete document: %w", err)
	}
	tenantID := t.String()
	tx, err := d.db.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return 0, d.db.fail(ctx, "delete document", err)
	}
	defer tx.Rollback() // a no-op once committed
	var chunks, bytes int64
	switch err := tx.QueryRowContext(ctx, documentDelete, tenantID, id).Scan(&chunks, &bytes); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, store.ErrNotFound
	case err != nil:
		return 0, d.db.fail(ctx, "delete document", err)
	}
	if _, err := tx.StmtContext(ctx, d.db.stmts.chunksDelete).ExecContext(ctx, tenantID, id); err != nil {
		return 0, d.db.fail(ctx, "delete document: chunks", err)
	}
	var version int64
	if err := tx.StmtContext(ctx, d.db.stmts.corpusBump).QueryRowContext(ctx, tenantID).Scan(&version); err != nil {
		return 0, d.db.fail(ctx, "delete document: corpus version", err)
	}
	if _, err := tx.StmtContext(ctx, d.db.stmts.changeInsert).ExecContext(ctx, tenantID, version, id, true); err != nil {
		return 0, d.db.fail(ctx, "delete document: change", err)
	}
	if err := pruneChanges(ctx, tx, tenantID, version); err != nil {
		return 0, d.db.fail(ctx, "delete document: prune changes", err)
	}
	if _, err := addTotals(ctx, tx, tenantID, store.DocumentTotals{Documents: -1, Chunks: -chunks, Bytes: -bytes}); err != nil {
		return 0, d.db.fail(ctx, "delete document: totals", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, d.db.fail(ctx, "delete document: commit", err)
	}
	return version, nil
}

// Chunks returns the chunks of a document of tenant t by ordinal, an empty
// slice when it has none, or store.ErrNotFound when t has no such
// document. The document and its chunks are read in one transaction, so the
// chunks are all of one PutDocument.
func (d *Documents) Chunks(ctx context.Context, t tenant.ID, docID string) ([]store.StoredChunk, error) {
	if err := store.CheckDocumentID(t, docID); err != nil {
		return nil, fmt.Errorf("sqlite: chunks: %w", err)
	}
	if err := d.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: chunks: %w", err)
	}
	tx, err := d.db.reader.BeginTx(ctx, nil) // a deferred BEGIN: a read snapshot
	if err != nil {
		return nil, d.db.fail(ctx, "chunks", err)
	}
	defer tx.Rollback() // it wrote nothing: there is nothing to commit
	var n int
	err = tx.QueryRowContext(ctx, documentChunks, t.String(), docID).Scan(&n)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, d.db.fail(ctx, "chunks", err)
	}
	chunks := make([]store.StoredChunk, 0, n)
	err = readChunks(ctx, tx, func(c store.StoredChunk) error {
		chunks = append(chunks, c)
		return nil
	}, chunksOf, t.String(), docID)
	if err != nil {
		return nil, d.db.fail(ctx, "chunks", err)
	}
	return chunks, nil
}

// ScanDocuments calls fn with every document of tenant t and its chunks,
// by document ID, until fn returns an error, which it returns as is. It
// reads the documents in pages of at most 256 documents and, unless one
// document has more, 1024 chunks, each page in a read transaction of its
// own that ends before fn is called: every document comes with the chunks
// of the same PutDocument, but a document changed after its page was read
// is seen as it was, and one added behind the scan is not seen. fn may call
// the store, to read or to write.
func (d *Documents) ScanDocuments(ctx context.Context, t tenant.ID, fn func(store.DocumentRecord, []store.StoredChunk) error) error {
	switch {
	case t.IsZero():
		return fmt.Errorf("sqlite: scan documents: %w: tenant id is required", store.ErrInvalid)
	case fn == nil:
		return fmt.Errorf("sqlite: scan documents: %w: no function", store.ErrInvalid)
	}
	tenantID := t.String()
	after := ""
	for {
		if err := d.db.ready(ctx); err != nil {
			return fmt.Errorf("sqlite: scan documents: %w", err)
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
	tx, err := d.db.reader.BeginTx(ctx, nil) // a deferred BEGIN: a read snapshot
	if err != nil {
		return nil, nil, false, err
	}
	defer tx.Rollback() // it wrote nothing: there is nothing to commit

	n, last, more, err := scanPageSize(ctx, tx, tenantID, after)
	if err != nil || n == 0 {
		return nil, nil, false, err
	}
	docs, err := queryDocuments(ctx, tx, documentsRange, n, tenantID, after, last)
	switch {
	case err != nil:
		return nil, nil, false, err
	case len(docs) != n:
		return nil, nil, false, fmt.Errorf("%d documents up to %q, then %d", n, last, len(docs))
	}
	// Each document gets a slice of its own, so that keeping the chunks of
	// one keeps none of the others'.
	chunks := make([][]store.StoredChunk, len(docs))
	for i, doc := range docs {
		chunks[i] = make([]store.StoredChunk, 0, doc.Chunks)
	}
	i := 0
	err = readChunks(ctx, tx, func(c store.StoredChunk) error {
		for i < len(docs) && docs[i].ID != c.DocID { // both are by document ID
			i++
		}
		if i == len(docs) {
			return fmt.Errorf("chunk %q belongs to no document", c.ID)
		}
		chunks[i] = append(chunks[i], c)
		return nil
	}, chunksRange, tenantID, after, last)
	if err != nil {
		return nil, nil, false, err
	}
	for i, doc := range docs {
		if len(chunks[i]) != doc.Chunks {
			return nil, nil, false, fmt.Errorf("document %q has %d chunks, its row says %d", doc.ID, len(chunks[i]), doc.Chunks)
		}
	}
	return docs, chunks, more, nil
}

// scanPageSize returns the size of the page of ScanDocuments that follows
// the document ID after: the number of documents, the ID of the last and
// whether more documents may follow. It reads the IDs and chunk counts of
// the documents only, so that the page's bound on chunks costs little when
// it cuts the page short.
func scanPageSize(ctx context.Context, tx *sql.Tx, tenantID, after string) (n int, last string, more bool, err error) {
	rows, err := tx.QueryContext(ctx, scanSizes, tenantID, after, scanPageDocuments)
	if err != nil {
		return 0, "", false, err
	}
	defer rows.Close()
	total := 0
	for rows.Next() {
		var id string
		var chunks int
		if err := rows.Scan(&id, &chunks); err != nil {
			return 0, "", false, err
		}
		if n > 0 && total+chunks > scanPageChunks {
			return n, last, true, nil
		}
		n, total, last = n+1, total+chunks, id
	}
	return n, last, n == scanPageDocuments, rows.Err()
}

// CorpusVersion returns tenant t's corpus version: 0 before its first
// change.
func (d *Documents) CorpusVersion(ctx context.Context, t tenant.ID) (int64, error) {
	if t.IsZero() {
		return 0, fmt.Errorf("sqlite: corpus version: %w: tenant id is required", store.ErrInvalid)
	}
	if err := d.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("sqlite: corpus version: %w", err)
	}
	var version int64
	err := d.db.reader.QueryRowContext(ctx, corpusGet, t.String()).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, d.db.fail(ctx, "corpus version", err)
	}
	return version, nil
}

// Changes returns up to limit changes of tenant t's knowledge base with a
// version above after, by version, or store.ErrPruned when the feed no
// longer reaches back to after. The corpus version and the changes are read
// in one read transaction.
func (d *Documents) Changes(ctx context.Context, t tenant.ID, after int64, limit int) ([]store.DocumentChange, error) {
	limit, err := store.CheckChanges(t, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: changes: %w", err)
	}
	if err := d.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: changes: %w", err)
	}
	tx, err := d.db.reader.BeginTx(ctx, nil) // a deferred BEGIN: a read snapshot
	if err != nil {
		return nil, d.db.fail(ctx, "changes", err)
	}
	defer tx.Rollback() // it wrote nothing: there is nothing to commit
	var version int64
	if err := tx.QueryRowContext(ctx, corpusGet, t.String()).Scan(&version); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, d.db.fail(ctx, "changes", err)
	}
	if after >= version {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, changesAfter, t.String(), after, limit)
	if err != nil {
		return nil, d.db.fail(ctx, "changes", err)
	}
	defer rows.Close()
	changes := make([]store.DocumentChange, 0, min(limit, int(version-after)))
	for rows.Next() {
		var c store.DocumentChange
		if err := rows.Scan(&c.Version, &c.DocID, &c.Deleted); err != nil {
			return nil, d.db.fail(ctx, "changes", err)
		}
		changes = append(changes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, d.db.fail(ctx, "changes", err)
	}
	changes, err = store.ChangesAfter(after, version, changes)
	if err != nil {
		return nil, fmt.Errorf("sqlite: changes: %w", err)
	}
	return changes, nil
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryDocuments runs query, which selects documentColumns, and returns the
// documents it selects; n is how many are expected.
func queryDocuments(ctx context.Context, q querier, query string, n int, args ...any) ([]store.DocumentRecord, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	docs := make([]store.DocumentRecord, 0, n)
	for rows.Next() {
		doc, err := scanDocument(rows)
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
	return docs, rows.Err()
}

// scanDocument reads a row of documentColumns.
func scanDocument(row interface{ Scan(...any) error }) (store.DocumentRecord, error) {
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

// readChunks runs query, which selects chunkColumns, and calls add with
// each chunk it selects, until add returns an error.
func readChunks(ctx context.Context, q querier, add func(store.StoredChunk) error, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var heading, vector sql.RawBytes // valid until the next call of Next
	for rows.Next() {
		var c store.StoredChunk
		err := rows.Scan(&c.DocID, &c.Ordinal, &c.ID, &heading, &c.Text, &c.Start, &c.End, &c.Tokens, &c.Hash, &vector)
		if err != nil {
			return err
		}
		if c.HeadingPath, err = store.DecodeHeadingPath(heading); err != nil {
			return fmt.Errorf("chunk %q: heading path: %w", c.ID, err)
		}
		if c.Vector, err = vecbytes.Decode(vector); err != nil {
			return fmt.Errorf("chunk %q: %w", c.ID, err)
		}
		if err := add(c); err != nil {
			return err
		}
	}
	return rows.Err()
}

// nullBlob returns b, or nil, which the driver binds as NULL, when b is
// empty.
func nullBlob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
