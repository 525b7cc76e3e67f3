// Package rag is the knowledge base of each tenant: it ingests documents
// (extract, chunk, embed through the gateway, store), keeps one in-memory
// index per tenant (BM25 and vectors, rebuilt from storage at start without
// re-embedding), retrieves with hybrid fusion and an optional reranker, and
// assembles the passages of grounded answers with citations.
//
// A tenant's knowledge base is reachable only through its own index and its
// own rows in the store: no query, filter or document field can name
// another tenant.
package rag

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/rag/chunk"
	"github.com/crispy-enigma/crispy/internal/rag/extract"
	"github.com/crispy-enigma/crispy/internal/rag/index"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// Defaults for tenants that do not set them.
const (
	DefaultChunkTokens      = 256
	DefaultOverlapTokens    = 32
	DefaultTopK             = 8
	DefaultMaxTopK          = 20
	DefaultMaxContextTokens = 3000
	// MaxDocumentBytes is the largest source text of one document.
	MaxDocumentBytes = 10 << 20
	// MaxQueryChars is the longest query.
	MaxQueryChars = 2000
	// embedBatch is how many chunks go to the embedder in one call.
	embedBatch = 64
	// candidates is how many hits each retriever hands to fusion.
	candidates = 100
)

var (
	docIDPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,255}$`)
	metaKeyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)
	// reservedMeta are metadata keys a document may not set: scoping is
	// decided by the caller's key, never by document content.
	reservedMeta = map[string]bool{"tenant": true, "tenant_id": true, "tenantId": true, "namespace": true}
)

// Service is the knowledge base of every tenant.
type Service struct {
	gw      *gateway.Gateway
	docs    store.Documents
	log     *slog.Logger
	metrics *Metrics

	// Rerankers builds the reranker a tenant configures; nil: no reranking.
	Rerankers func(t *tenant.Tenant, cfg tenant.Reranker) Reranker

	mu      sync.Mutex
	tenants map[tenant.ID]*kb
}

// kb is one tenant's knowledge base in memory.
type kb struct {
	load    sync.Once
	loadErr error

	write sync.Mutex // one write or delete at a time: store and index agree

	qmu     sync.Mutex // guards queue and writing
	queue   []*pending // prepared documents waiting for their write
	writing bool       // an ingest is writing the queue

	mu      sync.RWMutex
	ix      *index.Index
	chunks  map[string]*chunkInfo // chunk ID -> what results show
	byDoc   map[string][]string   // document ID -> chunk IDs
	version int64
}

// chunkInfo is what a result shows of a chunk.
type chunkInfo struct {
	DocID       string
	Title       string
	URL         string
	HeadingPath []string
	Text        string
	Start, End  int
	Tokens      int
	Flagged     bool
}

// New returns a Service. reg receives its metrics (nil: none).
func New(gw *gateway.Gateway, docs store.Documents, log *slog.Logger, reg prometheus.Registerer) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{gw: gw, docs: docs, log: log, metrics: newMetrics(reg), tenants: map[tenant.ID]*kb{}}
	if reg != nil {
		reg.MustRegister(heldCollector{s})
	}
	return s
}

// Retain drops from memory the knowledge bases of the tenants keep
// rejects (a reload removed them), and returns their IDs. Their documents
// stay in the store: a tenant added back loads them again on first use.
func (s *Service) Retain(keep func(tenant.ID) bool) []tenant.ID {
	s.mu.Lock()
	var gone []tenant.ID
	for id := range s.tenants {
		if !keep(id) {
			delete(s.tenants, id)
			gone = append(gone, id)
		}
	}
	s.mu.Unlock()
	for _, id := range gone {
		s.metrics.forget(id)
	}
	slices.SortFunc(gone, func(a, b tenant.ID) int { return strings.Compare(a.String(), b.String()) })
	return gone
}

// held returns the chunks each knowledge base in memory holds.
func (s *Service) held() map[tenant.ID]int {
	s.mu.Lock()
	bases := maps.Clone(s.tenants)
	s.mu.Unlock()
	out := make(map[tenant.ID]int, len(bases))
	for id, k := range bases {
		k.mu.RLock()
		out[id] = k.ix.Len()
		k.mu.RUnlock()
	}
	return out
}

// base returns the tenant's knowledge base, loading it from the store on
// first use.
func (s *Service) base(ctx context.Context, t tenant.ID) (*kb, error) {
	s.mu.Lock()
	k := s.tenants[t]
	if k == nil {
		k = &kb{ix: index.New(), chunks: map[string]*chunkInfo{}, byDoc: map[string][]string{}}
		s.tenants[t] = k
	}
	s.mu.Unlock()
	k.load.Do(func() {
		start := time.Now()
		// The version is read first: a change that lands during the scan
		// then leaves the index labelled older than it is, never newer.
		k.version, k.loadErr = s.docs.CorpusVersion(context.WithoutCancel(ctx), t)
		if k.loadErr == nil {
			k.loadErr = s.docs.ScanDocuments(context.WithoutCancel(ctx), t, func(d store.DocumentRecord, cs []store.StoredChunk) error {
				return k.put(d, cs)
			})
		}
		if k.loadErr != nil {
			k.loadErr = fmt.Errorf("load knowledge base of %s: %w", t, k.loadErr)
			return
		}
		k.ix.Compact() // release the slack of the rebuild
		if n := k.ix.Len(); n > 0 {
			s.log.Info("knowledge base loaded", "tenant", t.String(), "documents", k.ix.Docs(), "chunks", n, "ms", time.Since(start).Milliseconds())
		}
	})
	if k.loadErr != nil {
		// Forget the failed load so that a later call tries again.
		s.mu.Lock()
		if s.tenants[t] == k {
			delete(s.tenants, t)
		}
		s.mu.Unlock()
		return nil, k.loadErr
	}
	return k, nil
}

// Load builds the in-memory indexes of tenants from the store, so that the
// first queries do not wait for it.
func (s *Service) Load(ctx context.Context, tenants []*tenant.Tenant) error {
	for _, t := range tenants {
		if _, err := s.base(ctx, t.ID); err != nil {
			return err
		}
	}
	return nil
}

// indexed is a document made ready for the index, outside any lock: its
// index entries (Vector set from its chunks) and what results show.
type indexed struct {
	docID   string
	entries []index.Entry
	infos   []*chunkInfo
	ids     []string
	// batch, when set, is entries analysed for the index already.
	batch *index.Prepared
}

func prepare(d store.DocumentRecord, cs []store.StoredChunk) indexed {
	p := indexed{docID: d.ID, entries: make([]index.Entry, len(cs)), infos: make([]*chunkInfo, len(cs)), ids: make([]string, len(cs))}
	for i, c := range cs {
		p.entries[i] = index.Entry{ChunkID: c.ID, DocID: d.ID, Text: indexText(d.Title, c.HeadingPath, c.Text), Vector: c.Vector, Metadata: d.Metadata}
		p.infos[i] = &chunkInfo{DocID: d.ID, Title: d.Title, URL: d.URL, HeadingPath: c.HeadingPath, Text: c.Text,
			Start: c.Start, End: c.End, Tokens: c.Tokens, Flagged: LooksLikeInjection(c.Text)}
		p.ids[i] = c.ID
	}
	return p
}

// put indexes a stored document, replacing its previous chunks.
func (k *kb) put(d store.DocumentRecord, cs []store.StoredChunk) error {
	return k.apply(prepare(d, cs))
}

// apply puts a prepared document in the index.
func (k *kb) apply(p indexed) error {
	var err error
	if p.batch != nil {
		err = k.ix.ReplacePrepared(p.batch)
	} else {
		err = k.ix.Replace(p.docID, p.entries)
	}
	if err != nil {
		return err
	}
	k.mu.Lock()
	for _, id := range k.byDoc[p.docID] {
		delete(k.chunks, id)
	}
	for i, id := range p.ids {
		k.chunks[id] = p.infos[i]
	}
	k.byDoc[p.docID] = p.ids
	k.mu.Unlock()
	return nil
}

func (k *kb) remove(docID string) {
	k.ix.Delete(docID)
	k.mu.Lock()
	for _, id := range k.byDoc[docID] {
		delete(k.chunks, id)
	}
	delete(k.byDoc, docID)
	k.mu.Unlock()
}

// indexText is what BM25 and the embedder see of a chunk: its document's
// title and its headings give it context its text may lack.
func indexText(title string, headings []string, text string) string {
	var b strings.Builder
	if title != "" {
		b.WriteString(title)
		b.WriteString("\n")
	}
	if len(headings) > 0 {
		b.WriteString(strings.Join(headings, " > "))
		b.WriteString("\n")
	}
	b.WriteString(text)
	return b.String()
}

// Caller says who asks, for budgets, usage and audit.
type Caller struct {
	Tenant    *tenant.Tenant
	Key       *tenant.Key
	RequestID string
}

func (c Caller) call() gateway.Call {
	return gateway.Call{Tenant: c.Tenant, Key: c.Key, Route: gateway.RouteEmbedding, RequestID: c.RequestID}
}

// DocumentInput is a document to ingest: exactly one of Text, Markdown and
// HTML.
type DocumentInput struct {
	ID       string         `json:"id,omitempty"`
	Title    string         `json:"title,omitempty"`
	URL      string         `json:"url,omitempty"`
	Text     string         `json:"text,omitempty"`
	Markdown string         `json:"markdown,omitempty"`
	HTML     string         `json:"html,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// IngestResult says what ingesting one document did.
type IngestResult struct {
	ID     string `json:"id"`
	Status string `json:"status"` // created, updated, unchanged
	Chunks int    `json:"chunks"`
	// Version is the tenant's corpus version after the ingest.
	Version int64 `json:"version"`
}

// Ingest adds or replaces one document. The same ID with the same content
// is a no-op; new content replaces the old chunks atomically.
func (s *Service) Ingest(ctx context.Context, c Caller, in DocumentInput) (IngestResult, error) {
	format, src, err := validateInput(&in)
	if err != nil {
		return IngestResult{}, err
	}
	cfg := c.Tenant.Config
	opts := chunkOptions(cfg)
	model := gateway.PrimaryModel(cfg, gateway.RouteEmbedding)
	if in.ID == "" {
		in.ID = derivedID(in, src)
	}
	hash := contentHash(format, src, in, opts, model)

	k, err := s.base(ctx, c.Tenant.ID)
	if err != nil {
		return IngestResult{}, api.Internal(err)
	}
	// A cheap check first: an unchanged document costs one read.
	old, err := s.docs.Document(ctx, c.Tenant.ID, in.ID)
	switch {
	case err == nil && old.Hash == hash:
		return IngestResult{ID: in.ID, Status: "unchanged", Chunks: old.Chunks, Version: k.currentVersion()}, nil
	case errors.Is(err, store.ErrNotFound):
		old = store.DocumentRecord{}
	case err != nil:
		return IngestResult{}, api.Internal(err)
	}

	// Extracting, chunking and embedding run outside the tenant's write
	// lock, so that a batch's documents are prepared in parallel.
	quota := cfg.Limits.Knowledge.WithDefaults()
	title, parts, err := split(format, src, in, opts, quota)
	if err != nil {
		return IngestResult{}, err
	}
	// The quotas are checked before the embedder is called, and again
	// where the document is written (the store's check is the one that
	// holds against concurrent writers).
	totals, err := s.docs.Totals(ctx, c.Tenant.ID)
	if err != nil {
		return IngestResult{}, api.Internal(err)
	}
	after := totals
	if old.ID != "" {
		after.Documents--
		after.Chunks -= int64(old.Chunks)
		after.Bytes -= old.Bytes
	}
	after.Documents++
	after.Chunks += int64(len(parts))
	after.Bytes += int64(len(src))
	if err := storeQuota(quota).Check(totals, after); err != nil {
		return IngestResult{}, quotaError(in.ID, err)
	}
	stored := make([]store.StoredChunk, len(parts))
	for i, p := range parts {
		sum := sha256.Sum256([]byte(p.Text))
		stored[i] = store.StoredChunk{
			ID: fmt.Sprintf("%s#%d", in.ID, p.Ordinal), DocID: in.ID, Ordinal: p.Ordinal, HeadingPath: p.HeadingPath,
			Text: p.Text, Start: p.Start, End: p.End, Tokens: p.Tokens, Hash: hex.EncodeToString(sum[:]),
		}
	}
	rec := store.DocumentRecord{
		ID: in.ID, Title: title, URL: in.URL, Format: format, Metadata: in.Metadata, Hash: hash,
		EmbeddingModel: model, Bytes: int64(len(src)), Chunks: len(stored), UploadedBy: keyID(c.Key),
	}
	// The index entries are prepared now, outside the lock; the embedder
	// sees the same text as BM25.
	ready := prepare(rec, stored)
	texts := make([]string, len(stored))
	for i := range ready.entries {
		texts[i] = ready.entries[i].Text
	}
	for lo := 0; lo < len(texts); lo += embedBatch {
		hi := min(lo+embedBatch, len(texts))
		res, err := s.gw.Embed(ctx, c.call(), provider.EmbedRequest{Input: texts[lo:hi]})
		if err != nil {
			return IngestResult{}, err
		}
		for i, v := range res.Vectors {
			if zero(v) {
				// No vector (text the embedder sees nothing in): the chunk
				// is found by BM25 alone.
				v = nil
			}
			stored[lo+i].Vector = v
			ready.entries[lo+i].Vector = v
		}
	}

	// The index's analysis of the text runs here too, not under the lock.
	if ready.batch, err = k.ix.Prepare(ready.docID, ready.entries); err != nil {
		return IngestResult{}, api.Internal(err)
	}
	w := &pending{rec: rec, stored: stored, ready: ready, quota: storeQuota(quota), done: make(chan struct{})}
	s.write(ctx, c.Tenant.ID, k, w)
	return w.res, w.err
}

// maxGroup is the most documents one store transaction writes.
const maxGroup = 32

// pending is a prepared document waiting for its write.
type pending struct {
	rec    store.DocumentRecord
	stored []store.StoredChunk
	ready  indexed
	quota  store.DocumentQuota
	res    IngestResult
	err    error
	done   chan struct{} // closed once written (or failed)
	lead   chan struct{} // closed when this ingest is to lead the next group
}

// write stores a prepared document and indexes it. Concurrent ingests of a
// tenant share their writes (group commit): the ingest at the head of the
// queue leads, writing its document and those queued behind it, up to
// maxGroup, in one store transaction and one sync; then it hands the lead
// to the next ingest in the queue, if any, and returns. The others wait for
// their result or for the lead. No ingest writes more than one group, so a
// steady stream of ingests never holds one of them. The write runs even
// when ctx is cancelled once queued: the document is prepared and the write
// is short.
func (s *Service) write(ctx context.Context, t tenant.ID, k *kb, w *pending) {
	ctx = context.WithoutCancel(ctx)
	w.lead = make(chan struct{})
	k.qmu.Lock()
	k.queue = append(k.queue, w)
	lead := !k.writing
	k.writing = true
	k.qmu.Unlock()
	if !lead {
		select {
		case <-w.done:
			return
		case <-w.lead:
		}
	}
	// w is at the head of the queue, so in the group; whatever happens,
	// the lead passes on.
	defer k.handOver()
	k.qmu.Lock()
	group := k.takeGroup()
	k.qmu.Unlock()
	s.writeGroup(ctx, t, k, group)
}

// handOver gives the lead to the ingest at the head of the queue, or ends
// the writing when the queue is empty.
func (k *kb) handOver() {
	k.qmu.Lock()
	defer k.qmu.Unlock()
	if len(k.queue) == 0 {
		k.writing = false
		return
	}
	close(k.queue[0].lead)
}

// takeGroup takes up to maxGroup documents off the queue, stopping before
// a second put of the same ID (it goes in the next group). k.qmu is held.
func (k *kb) takeGroup() []*pending {
	ids := map[string]bool{}
	n := 0
	for n < len(k.queue) && n < maxGroup && !ids[k.queue[n].rec.ID] {
		ids[k.queue[n].rec.ID] = true
		n++
	}
	group := slices.Clone(k.queue[:n])
	clear(k.queue[:n]) // the array must not keep written documents alive
	k.queue = k.queue[n:]
	if len(k.queue) == 0 {
		k.queue = nil
	}
	return group
}

// writeGroup writes a group under the tenant's write lock, so that the
// store and the index agree. Each document is looked up again first: an
// ingest of the same ID may have landed since it was prepared, and an
// unchanged one is not written.
func (s *Service) writeGroup(ctx context.Context, t tenant.ID, k *kb, group []*pending) {
	k.write.Lock()
	defer k.write.Unlock()
	defer func() {
		for _, w := range group {
			close(w.done)
		}
	}()
	var puts []store.DocumentPut
	var fresh []*pending
	for _, w := range group {
		old, err := s.docs.Document(ctx, t, w.rec.ID)
		switch {
		case err == nil && old.Hash == w.rec.Hash:
			w.res = IngestResult{ID: w.rec.ID, Status: "unchanged", Chunks: old.Chunks, Version: k.currentVersion()}
			continue
		case err != nil && !errors.Is(err, store.ErrNotFound):
			w.err = api.Internal(err)
			continue
		}
		w.res = IngestResult{ID: w.rec.ID, Status: "created", Chunks: len(w.stored)}
		if err == nil {
			w.res.Status = "updated"
		}
		puts = append(puts, store.DocumentPut{Doc: w.rec, Chunks: w.stored})
		fresh = append(fresh, w)
	}
	if len(puts) == 0 {
		return
	}
	s.metrics.group.Observe(float64(len(puts)))
	version, err := s.docs.PutDocuments(ctx, t, puts, fresh[0].quota)
	if errors.Is(err, store.ErrQuotaExceeded) && len(puts) > 1 {
		// Together they pass a quota: each gets its own verdict, in order.
		for i, w := range fresh {
			v, err := s.docs.PutDocuments(ctx, t, puts[i:i+1], w.quota)
			s.applyWritten(t, k, []*pending{w}, v, err)
		}
		return
	}
	s.applyWritten(t, k, fresh, version, err)
}

// applyWritten puts written documents in the index, or gives them the
// error of their write. The tenant's write lock is held.
func (s *Service) applyWritten(t tenant.ID, k *kb, written []*pending, version int64, err error) {
	if err != nil {
		for _, w := range written {
			if errors.Is(err, store.ErrQuotaExceeded) {
				w.err = quotaError(w.rec.ID, err)
			} else {
				w.err = api.Internal(err)
			}
		}
		return
	}
	chunks := 0
	for _, w := range written {
		if err := k.apply(w.ready); err != nil {
			w.err = api.Internal(err)
		}
		w.res.Version = version
		chunks += len(w.stored)
	}
	k.setVersion(version)
	s.metrics.chunks.WithLabelValues(t.String()).Add(float64(chunks))
}

// storeQuota is the store's view of a tenant's knowledge quotas.
func storeQuota(q tenant.Knowledge) store.DocumentQuota {
	return store.DocumentQuota{Documents: q.MaxDocuments, Chunks: q.MaxChunks, Bytes: q.MaxStoredBytes}
}

// quotaError is the API error of a store.QuotaError for document id.
func quotaError(id string, err error) error {
	var qe *store.QuotaError
	if !errors.As(err, &qe) {
		return api.Internal(err)
	}
	return api.Errorf(api.CodeQuotaExceeded, "document %q: the knowledge base would hold %d %s, over its quota of %d", id, qe.After, qe.Quota, qe.Limit).
		WithDetails(map[string]any{"quota": qe.Quota, "limit": qe.Limit, "used": qe.Used, "after": qe.After})
}

// Quota returns what tenant t's knowledge base holds against its quotas;
// jobs is the number of its batch ingests running.
func (s *Service) Quota(ctx context.Context, t *tenant.Tenant, jobs int) (api.KnowledgeQuota, error) {
	totals, err := s.docs.Totals(ctx, t.ID)
	if err != nil {
		return api.KnowledgeQuota{}, api.Internal(err)
	}
	q := t.Config.Limits.Knowledge.WithDefaults()
	return api.KnowledgeQuota{
		Documents:         api.QuotaUse{Used: totals.Documents, Limit: q.MaxDocuments},
		Chunks:            api.QuotaUse{Used: totals.Chunks, Limit: q.MaxChunks},
		Bytes:             api.QuotaUse{Used: totals.Bytes, Limit: q.MaxStoredBytes},
		ChunksPerDocument: q.MaxChunksPerDocument,
		Jobs:              api.QuotaUse{Used: int64(jobs), Limit: int64(q.MaxJobs)},
	}, nil
}

// zero reports whether v has no non-zero component (or is empty).
func zero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// Delete removes a document: nothing of it is retrievable afterwards.
func (s *Service) Delete(ctx context.Context, t tenant.ID, id string) (int64, error) {
	if !docIDPattern.MatchString(id) {
		return 0, docErr(id, store.ErrNotFound)
	}
	k, err := s.base(ctx, t)
	if err != nil {
		return 0, api.Internal(err)
	}
	k.write.Lock()
	defer k.write.Unlock()
	version, err := s.docs.DeleteDocument(ctx, t, id)
	if err != nil {
		return 0, docErr(id, err)
	}
	k.remove(id)
	k.setVersion(version)
	return version, nil
}

// Version returns the tenant's corpus version: it changes with every
// ingest or delete that changes the knowledge base, so a cache keyed by it
// never serves an answer from a corpus that has since changed.
func (s *Service) Version(ctx context.Context, t tenant.ID) (int64, error) {
	k, err := s.base(ctx, t)
	if err != nil {
		return 0, api.Internal(err)
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.version, nil
}

// Document returns a document's record.
func (s *Service) Document(ctx context.Context, t tenant.ID, id string) (store.DocumentRecord, error) {
	d, err := s.docs.Document(ctx, t, id)
	if err != nil {
		return d, docErr(id, err)
	}
	return d, nil
}

// Chunks returns a document's chunks.
func (s *Service) Chunks(ctx context.Context, t tenant.ID, id string) ([]api.DocumentChunk, error) {
	cs, err := s.docs.Chunks(ctx, t, id)
	if err != nil {
		return nil, docErr(id, err)
	}
	out := make([]api.DocumentChunk, len(cs))
	for i, c := range cs {
		out[i] = api.DocumentChunk{ID: c.ID, Ordinal: c.Ordinal, HeadingPath: c.HeadingPath, Start: c.Start, End: c.End, Tokens: c.Tokens, Hash: c.Hash, Text: c.Text}
	}
	return out, nil
}

// Documents lists documents by ID, after the given one.
func (s *Service) Documents(ctx context.Context, t tenant.ID, after string, limit int) ([]store.DocumentRecord, error) {
	ds, err := s.docs.Documents(ctx, t, after, limit)
	if err != nil {
		return nil, api.Internal(err)
	}
	return ds, nil
}

// docErr maps a store error about document id: a document that does not
// exist, or whose ID no document could have, is not found.
func docErr(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return api.Errorf(api.CodeNotFound, "document %q does not exist", id)
	}
	return api.Internal(err)
}

func (k *kb) currentVersion() int64 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.version
}

func (k *kb) setVersion(v int64) {
	k.mu.Lock()
	k.version = v
	k.mu.Unlock()
}

// validateInput checks a document and returns its format and source.
func validateInput(in *DocumentInput) (format, src string, err error) {
	bad := func(path, format string, args ...any) error {
		return api.Errorf(api.CodeInvalidRequest, format, args...).WithDetails(map[string]any{"path": path})
	}
	n := 0
	for f, v := range map[string]string{extract.FormatText: in.Text, extract.FormatMarkdown: in.Markdown, extract.FormatHTML: in.HTML} {
		if v != "" {
			n++
			format, src = f, v
		}
	}
	switch {
	case n != 1:
		return "", "", bad("/text", "a document needs exactly one of text, markdown and html")
	case strings.TrimSpace(src) == "":
		return "", "", bad("/"+format, "the document is empty")
	case len(src) > MaxDocumentBytes:
		return "", "", api.Errorf(api.CodePayloadTooLarge, "the document is larger than %d bytes", MaxDocumentBytes).WithDetails(map[string]any{"path": "/" + format, "limit": MaxDocumentBytes})
	case !utf8.ValidString(src):
		return "", "", bad("/"+format, "the document is not valid UTF-8")
	case in.ID != "" && !docIDPattern.MatchString(in.ID):
		return "", "", bad("/id", "id must be 1-256 characters of A-Z a-z 0-9 . _ : / @ -, starting with a letter or digit")
	case utf8.RuneCountInString(in.Title) > 500:
		return "", "", bad("/title", "title is longer than 500 characters")
	case len(in.Metadata) > 32:
		return "", "", bad("/metadata", "at most 32 metadata keys")
	}
	if in.URL != "" {
		u, err := url.Parse(in.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(in.URL) > 2048 {
			return "", "", bad("/url", "url must be an http or https URL of at most 2048 characters")
		}
	}
	for key, v := range in.Metadata {
		path := "/metadata/" + key
		if !metaKeyPattern.MatchString(key) {
			return "", "", bad(path, "metadata keys are 1-64 characters of A-Z a-z 0-9 _ . -, starting with a letter or _")
		}
		if reservedMeta[key] {
			return "", "", bad(path, "metadata key %q is reserved: a document cannot set its tenant or namespace", key)
		}
		switch x := v.(type) {
		case string:
			if len(x) > 1024 {
				return "", "", bad(path, "metadata strings are at most 1024 bytes")
			}
		case bool:
		case float64:
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return "", "", bad(path, "metadata number out of range")
			}
			in.Metadata[key] = f
		default:
			return "", "", bad(path, "metadata values are strings, numbers or booleans")
		}
	}
	return format, src, nil
}

func chunkOptions(cfg *tenant.Config) chunk.Options {
	o := chunk.Options{ChunkTokens: cfg.RAG.ChunkTokens, OverlapTokens: cfg.RAG.OverlapTokens}
	if o.ChunkTokens == 0 {
		o.ChunkTokens = DefaultChunkTokens
	}
	if cfg.RAG.ChunkTokens == 0 && cfg.RAG.OverlapTokens == 0 {
		o.OverlapTokens = DefaultOverlapTokens
	}
	return o
}

// DocumentIDFrom makes a file's path (or name) a valid document ID: each
// character an ID cannot hold becomes '_', leading punctuation is dropped,
// and it is cut at 256 bytes.
func DocumentIDFrom(path string) string {
	var b strings.Builder
	for _, r := range path {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._:/@-", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	id := strings.TrimLeft(b.String(), "._:/@-")
	if len(id) > 256 {
		id = id[:256]
	}
	return id
}

// derivedID names a document that came without an ID: by its URL when it
// has one, else by its content, so that re-sending it is idempotent.
func derivedID(in DocumentInput, src string) string {
	key := in.URL
	if key == "" {
		key = in.Title + "\x00" + src
	}
	sum := sha256.Sum256([]byte(key))
	return "d_" + hex.EncodeToString(sum[:12])
}

// contentHash identifies everything that shapes a document's chunks and
// vectors; an ingest with the same hash has nothing to do.
func contentHash(format, src string, in DocumentInput, o chunk.Options, model string) string {
	meta, _ := json.Marshal(in.Metadata) // map keys are sorted
	h := sha256.New()
	for _, part := range []string{format, src, in.Title, in.URL, string(meta), fmt.Sprint(o.ChunkTokens, "/", o.OverlapTokens), model} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func keyID(k *tenant.Key) string {
	if k == nil {
		return ""
	}
	return k.ID
}

// countTokens is the tokenizer used for context budgets.
var countTokens = tokens.Count

// Split extracts and chunks a document exactly as Ingest would for the
// tenant, and stores nothing: the document's title (given, or found in it)
// and its chunks.
func Split(cfg *tenant.Config, in DocumentInput) (string, []chunk.Chunk, error) {
	format, src, err := validateInput(&in)
	if err != nil {
		return "", nil, err
	}
	return split(format, src, in, chunkOptions(cfg), cfg.Limits.Knowledge.WithDefaults())
}

// split extracts and chunks a document. A document with no words (no
// letter or digit once extracted: "...", an emoji, HTML of scripts alone)
// is invalid: nothing could ever find it. One that makes more chunks than
// its tenant allows is over quota, found without chunking the rest of it.
func split(format, src string, in DocumentInput, opts chunk.Options, q tenant.Knowledge) (string, []chunk.Chunk, error) {
	tooMany := func() error {
		return api.Errorf(api.CodeQuotaExceeded, "document %q makes more than %d chunks, the most one document may make; split it, or raise limits.knowledge.maxChunksPerDocument", in.ID, q.MaxChunksPerDocument).
			WithDetails(map[string]any{"quota": "chunksPerDocument", "limit": q.MaxChunksPerDocument, "path": "/" + format})
	}
	// Every block holds a token of its own at least, so a document of more
	// blocks than its chunks could hold is over quota: extraction keeps no
	// more than that, whatever the markup.
	maxTokens := opts.ChunkTokens
	if maxTokens <= 0 {
		maxTokens = chunk.DefaultChunkTokens
	}
	doc, err := extract.ExtractAtMost(format, src, q.MaxChunksPerDocument*maxTokens)
	if err != nil {
		return "", nil, api.Errorf(api.CodeInvalidRequest, "document %q: %v", in.ID, err)
	}
	if doc.Truncated {
		return "", nil, tooMany()
	}
	if !hasWords(doc.Text) {
		return "", nil, api.Errorf(api.CodeInvalidRequest, "document %q has no words to index: its %s holds no letter or digit once extracted", in.ID, format).
			WithDetails(map[string]any{"path": "/" + format})
	}
	title := strings.TrimSpace(in.Title)
	if title == "" {
		title = doc.Title
	}
	opts.MaxChunks = q.MaxChunksPerDocument
	parts := chunk.Split(doc, opts)
	if len(parts) > q.MaxChunksPerDocument {
		return "", nil, tooMany()
	}
	return title, parts, nil
}

// hasWords reports whether text holds a letter or a digit.
func hasWords(text string) bool {
	for _, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}
