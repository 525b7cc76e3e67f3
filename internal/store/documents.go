package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Limits on documents, the same for every backend.
const (
	MaxDocumentIDBytes = 256
	MaxDocumentsPage   = 1000
	// MaxChangesPage is the most changes one Changes call returns.
	MaxChangesPage = 1000
	// KeepChanges is how many of a tenant's latest corpus versions its
	// change feed keeps: each write prunes the changes older than that, in
	// its own transaction.
	KeepChanges = 4096
)

// ErrPruned means that changes a Changes call asked for are no longer
// kept: the caller is further behind than the feed reaches and reads the
// tenant's knowledge base whole again.
var ErrPruned = errors.New("store: changes pruned")

// DocumentChange is one entry of a tenant's change feed: the document that
// one corpus version put or deleted.
type DocumentChange struct {
	Version int64 // the corpus version the change made
	DocID   string
	Deleted bool // a delete; otherwise a put
}

// DocumentRecord describes one document of a tenant's knowledge base.
type DocumentRecord struct {
	ID     string
	Title  string
	URL    string
	Format string // text, markdown or html
	// Metadata are the document's filterable attributes: string, float64
	// or bool values.
	Metadata map[string]any
	// Hash is the SHA-256 (hex) of everything that shapes the chunks: the
	// source text, title, URL, metadata, chunking settings and embedding
	// model. Re-ingesting a document with the same Hash is a no-op.
	Hash string
	// EmbeddingModel is the provider/model whose vectors the chunks hold.
	EmbeddingModel string
	Bytes          int64 // size of the source text
	Chunks         int
	// UploadedBy is the ID of the key that ingested the document.
	UploadedBy string
	Created    time.Time // set by the store on first put
	Updated    time.Time // set by the store on every put
}

// StoredChunk is one chunk of a document with its vector.
type StoredChunk struct {
	ID          string // unique in the tenant: "<document ID>#<ordinal>"
	DocID       string
	Ordinal     int
	HeadingPath []string
	Text        string
	// Start and End are byte offsets of the chunk in the document's
	// extracted text.
	Start, End int
	Tokens     int
	Hash       string // SHA-256 (hex) of Text
	Vector     []float32
}

// DocumentPut is one document and its chunks, for PutDocuments.
type DocumentPut struct {
	Doc    DocumentRecord
	Chunks []StoredChunk
}

// DocumentTotals is what a tenant's knowledge base holds.
type DocumentTotals struct {
	Documents int64
	Chunks    int64
	Bytes     int64 // of the documents' source texts
}

// DocumentQuota caps what a tenant's knowledge base may hold; a zero field
// is no cap.
type DocumentQuota struct {
	Documents int64
	Chunks    int64
	Bytes     int64
}

// ErrQuotaExceeded means a write would take a tenant past its quota; the
// error is a *QuotaError, and nothing was written.
var ErrQuotaExceeded = errors.New("store: quota exceeded")

// QuotaError says which quota a write would pass, and by how much.
type QuotaError struct {
	Quota string // documents, chunks or bytes
	Limit int64  // the quota
	Used  int64  // held before the write
	After int64  // held had the write gone through
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("store: quota exceeded: %s: %d held, %d after the write, quota %d", e.Quota, e.Used, e.After, e.Limit)
}

// Unwrap makes errors.Is(err, ErrQuotaExceeded) hold.
func (e *QuotaError) Unwrap() error { return ErrQuotaExceeded }

// Check returns a *QuotaError when going from before to after passes q.
// A write that does not grow a total passes even above its quota (a quota
// lowered below what is held still lets documents be replaced by smaller
// ones and deleted).
func (q DocumentQuota) Check(before, after DocumentTotals) error {
	for _, c := range []struct {
		name               string
		limit, used, after int64
	}{
		{"documents", q.Documents, before.Documents, after.Documents},
		{"chunks", q.Chunks, before.Chunks, after.Chunks},
		{"bytes", q.Bytes, before.Bytes, after.Bytes},
	} {
		if c.limit > 0 && c.after > c.limit && c.after > c.used {
			return &QuotaError{Quota: c.name, Limit: c.limit, Used: c.used, After: c.after}
		}
	}
	return nil
}

// Documents stores tenants' knowledge bases: documents and their chunks
// with vectors, from which the in-memory indexes are built. Every call is
// scoped to one tenant. Each tenant has a corpus version that every change
// (put or delete) increments, for caches and replicas to notice changes.
type Documents interface {
	// PutDocument stores doc and replaces all of its chunks, atomically:
	// readers see the old document and chunks or the new ones, never a mix.
	// It returns the tenant's new corpus version.
	PutDocument(ctx context.Context, t tenant.ID, doc DocumentRecord, chunks []StoredChunk) (int64, error)
	// PutDocuments puts several documents in one transaction: all of them
	// or, on any error, none. The corpus version grows by one a document;
	// it returns the version after the last. Two puts of the same document
	// ID are ErrInvalid. When the tenant's totals after the puts would pass
	// quota (DocumentQuota.Check), it writes nothing and returns a
	// *QuotaError: the check and the write are one transaction, so
	// concurrent writers, in this process or another, never pass it
	// together.
	PutDocuments(ctx context.Context, t tenant.ID, puts []DocumentPut, quota DocumentQuota) (int64, error)
	// Totals returns what the tenant's knowledge base holds.
	Totals(ctx context.Context, t tenant.ID) (DocumentTotals, error)
	// Document returns a document, or ErrNotFound.
	Document(ctx context.Context, t tenant.ID, id string) (DocumentRecord, error)
	// Documents returns up to limit documents with ID > after, by ID.
	Documents(ctx context.Context, t tenant.ID, after string, limit int) ([]DocumentRecord, error)
	// DeleteDocument deletes a document and its chunks and returns the new
	// corpus version, or ErrNotFound.
	DeleteDocument(ctx context.Context, t tenant.ID, id string) (int64, error)
	// Chunks returns a document's chunks by ordinal, or ErrNotFound.
	Chunks(ctx context.Context, t tenant.ID, docID string) ([]StoredChunk, error)
	// ScanDocuments calls fn with every document of the tenant and its
	// chunks, in ID order, until fn returns an error, which it returns.
	ScanDocuments(ctx context.Context, t tenant.ID, fn func(DocumentRecord, []StoredChunk) error) error
	// CorpusVersion returns the tenant's corpus version (0 before any change).
	CorpusVersion(ctx context.Context, t tenant.ID) (int64, error)
	// Changes returns up to limit changes of the tenant's knowledge base
	// with a version above after, by version: the change feed, one change
	// a version, each recorded by the transaction that made it. It returns
	// none when after is the corpus version or above, and ErrPruned when
	// the change that follows after is no longer kept (the feed keeps the
	// latest KeepChanges versions). A limit of zero or less, or above
	// MaxChangesPage, means MaxChangesPage; a negative after is ErrInvalid.
	Changes(ctx context.Context, t tenant.ID, after int64, limit int) ([]DocumentChange, error)
}

// CheckChanges validates the arguments of a Changes call and returns its
// limit.
func CheckChanges(t tenant.ID, after int64, limit int) (int, error) {
	switch {
	case t.IsZero():
		return 0, fmt.Errorf("%w: tenant id is required", ErrInvalid)
	case after < 0:
		return 0, fmt.Errorf("%w: version %d is negative", ErrInvalid, after)
	case limit <= 0 || limit > MaxChangesPage:
		return MaxChangesPage, nil
	}
	return limit, nil
}

// ChangesAfter returns changes, read from the feed in one snapshot with
// the corpus version, or ErrPruned when they do not start right after
// after while the corpus is past it.
func ChangesAfter(after, version int64, changes []DocumentChange) ([]DocumentChange, error) {
	if after >= version {
		return nil, nil
	}
	if len(changes) == 0 || changes[0].Version != after+1 {
		return nil, fmt.Errorf("%w: the feed does not reach back to version %d (corpus at %d)", ErrPruned, after+1, version)
	}
	return changes, nil
}

// CheckDocumentID validates the tenant and document ID of a Documents call.
func CheckDocumentID(t tenant.ID, id string) error {
	switch {
	case t.IsZero():
		return fmt.Errorf("%w: tenant id is required", ErrInvalid)
	case id == "":
		return fmt.Errorf("%w: document id is empty", ErrInvalid)
	case len(id) > MaxDocumentIDBytes:
		return fmt.Errorf("%w: document id is longer than %d bytes", ErrInvalid, MaxDocumentIDBytes)
	}
	return nil
}

// CheckDocument validates a document and its chunks passed to PutDocument.
func CheckDocument(t tenant.ID, doc DocumentRecord, chunks []StoredChunk) error {
	if err := CheckDocumentID(t, doc.ID); err != nil {
		return err
	}
	for k, v := range doc.Metadata {
		switch v.(type) {
		case string, float64, bool:
		default:
			return fmt.Errorf("%w: metadata %q: value of type %T", ErrInvalid, k, v)
		}
	}
	for i, c := range chunks {
		if c.DocID != doc.ID {
			return fmt.Errorf("%w: chunk %d belongs to document %q", ErrInvalid, i, c.DocID)
		}
		if c.ID == "" {
			return fmt.Errorf("%w: chunk %d has no id", ErrInvalid, i)
		}
	}
	return nil
}
