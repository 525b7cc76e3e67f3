// Package rag is the knowledge base of each tenant: it ingests documents
// (extract, chunk, embed through the gateway, store), keeps one in-memory
// index per tenant (BM25 and vectors, read at start from its image in the
// data folder, or rebuilt from storage without re-embedding; image.go),
// retrieves with hybrid fusion and an optional reranker, and
// assembles the passages of grounded answers with citations.
//
// Indexes load on a tenant's first use and may be bounded in memory
// (Options.IndexMemory: least recently used first out). Over a store that
// several replicas share, each replica catches its indexes up from the
// store's change feed (see replica.go, Notify and Options.Replicated).
//
// A tenant's knowledge base is reachable only through its own index and its
// own rows in the store: no query, filter or document field can name
// another tenant.
package rag

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/rag/index"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// Limits of the knowledge base.
const (
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
	docIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,255}$`)
	// dotSegment finds a "." or ".." segment, or an empty one, in an ID
	// that holds '/': a URL path with one is not the path it reads as
	// (a browser resolves "a/../b" to "b"), so no ID has one.
	dotSegment     = regexp.MustCompile(`(^|/)\.{1,2}(/|$)|//|/$`)
	metaKeyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)
	// reservedMeta are metadata keys a document may not set: scoping is
	// decided by the caller's key, never by document content.
	reservedMeta = map[string]bool{"tenant": true, "tenant_id": true, "tenantId": true, "namespace": true}
)

// validDocID reports whether id is a valid document ID.
func validDocID(id string) bool {
	return docIDPattern.MatchString(id) && !dotSegment.MatchString(id)
}

// DefaultCheckInterval is Options.CheckInterval when it is zero.
const DefaultCheckInterval = time.Second

// DefaultImageDelay is Options.ImageDelay when it is zero.
const DefaultImageDelay = 2 * time.Second

// Options configure a Service. The zero value is one process over its own
// store (SQLite) with no bound on the memory of the indexes.
type Options struct {
	// Replicated says that other replicas write to the same store
	// (PostgreSQL): a query then checks its tenant's corpus version
	// against the store when it was last checked CheckInterval ago or
	// more, and catches the index up first when the store is ahead. It is
	// the safety net under Notify; without it nothing is checked.
	Replicated bool
	// CheckInterval is how old a version check may be before a query
	// checks again; zero means DefaultCheckInterval.
	CheckInterval time.Duration
	// IndexMemory bounds, in bytes, the estimated memory of the indexes
	// held: past it the least recently used tenants' indexes are dropped,
	// and loaded again on their next use. Zero means no bound.
	IndexMemory int64
	// FullVectors keeps vectors as float32s, four times the memory of the
	// int8 codes the indexes hold by default (index.Options.FullVectors),
	// for exact cosine similarities.
	FullVectors bool
	// ImageDir is the folder of the knowledge bases' images (image.go):
	// a knowledge base is loaded from its image when it is sound and
	// current, and its image is written again when its writes pause for
	// ImageDelay, and at Close. Empty: no images; indexes are rebuilt
	// from the store and chunk texts are held in memory.
	ImageDir string
	// ImageDelay is how long a knowledge base's writes must pause before
	// its image is written; zero means DefaultImageDelay.
	ImageDelay time.Duration
	// Now is the clock of the version checks; nil means time.Now.
	Now func() time.Time
	// Tracer makes the spans of retrievals; nil: none are made.
	Tracer trace.Tracer
}

// Service is the knowledge base of every tenant.
type Service struct {
	gw      *gateway.Gateway
	docs    store.Documents
	log     *slog.Logger
	metrics *Metrics
	opts    Options
	now     func() time.Time

	// Rerankers builds the reranker a tenant configures; nil: no reranking.
	Rerankers func(t *tenant.Tenant, cfg tenant.Reranker) Reranker

	mu      sync.Mutex
	tenants map[tenant.ID]*kb
	// floor is, for each tenant whose knowledge base was dropped, the
	// version it had reached: a later load answers with no older one.
	floor map[tenant.ID]int64
	clock atomic.Int64 // counts uses, for LRU

	ctx     context.Context // ends with Close: the catch-up goroutines
	cancel  context.CancelFunc
	bg      sync.WaitGroup
	closing atomic.Bool // Close has begun: no goroutine starts (spawn)
}

// New returns a Service for one process, with the zero Options. reg
// receives its metrics (nil: none).
func New(gw *gateway.Gateway, docs store.Documents, log *slog.Logger, reg prometheus.Registerer) *Service {
	return NewWithOptions(gw, docs, log, reg, Options{})
}

// NewWithOptions returns a Service configured by opts. reg receives its
// metrics (nil: none).
func NewWithOptions(gw *gateway.Gateway, docs store.Documents, log *slog.Logger, reg prometheus.Registerer, opts Options) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = DefaultCheckInterval
	}
	if opts.ImageDelay <= 0 {
		opts.ImageDelay = DefaultImageDelay
	}
	opts.Tracer = obs.Tracer(opts.Tracer)
	s := &Service{gw: gw, docs: docs, log: log, metrics: newMetrics(reg), opts: opts, now: opts.Now,
		tenants: map[tenant.ID]*kb{}, floor: map[tenant.ID]int64{}}
	if s.now == nil {
		s.now = time.Now
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if reg != nil {
		reg.MustRegister(heldCollector{s})
	}
	return s
}

// Close writes the images of the knowledge bases changed since their last
// one, stops the catch-ups in progress and waits for them to end. The
// Service answers afterwards, without catching up on notifications or
// writing images.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closing.Store(true)
	s.mu.Unlock()
	s.mu.Lock()
	held := maps.Clone(s.tenants)
	s.mu.Unlock()
	for t, k := range held {
		k.qmu.Lock()
		if k.timer != nil {
			k.timer.Stop()
		}
		k.qmu.Unlock()
		if k.ready.Load() && k.dirty.Load() {
			s.persist(t, k)
		}
	}
	s.cancel()
	s.bg.Wait()
	return nil
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
	for id := range s.floor {
		if !keep(id) {
			delete(s.floor, id)
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
// first use (and after it was dropped), and, with Options.Replicated,
// catching it up when its version was last checked long enough ago.
func (s *Service) base(ctx context.Context, t tenant.ID) (*kb, error) {
	for {
		s.mu.Lock()
		k := s.tenants[t]
		if k == nil {
			k = newKB(s.ixOpts())
			s.tenants[t] = k
		}
		floor := s.floor[t]
		s.mu.Unlock()
		k.used.Store(s.clock.Add(1))
		loaded := false
		k.load.Do(func() {
			loaded = true
			k.loadErr = s.loadKB(ctx, t, k, floor)
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
		switch {
		case loaded:
			if k.target.Load() > k.currentVersion() { // notified during the load
				s.follow(t, k)
			}
			s.enforceBudget(k)
		case s.opts.Replicated:
			s.check(ctx, t, k)
		}
		if !k.evicted.Load() {
			return k, nil
		}
		// Dropped meanwhile (its feed pruned, or the memory budget): the
		// next round loads it again.
	}
}

// loadKB builds k from the store: the version first, then every document,
// so that a change that lands during the scan leaves the index labelled
// older than it is, never newer. When the version is below floor (the
// store answered from behind what this replica already served), it catches
// up to floor or fails.
func (s *Service) loadKB(ctx context.Context, t tenant.ID, k *kb, floor int64) error {
	ctx = context.WithoutCancel(ctx)
	start := time.Now()
	version, err := s.docs.CorpusVersion(ctx, t)
	if err != nil {
		return fmt.Errorf("load knowledge base of %s: %w", t, err)
	}
	if s.opts.ImageDir != "" && s.loadImage(ctx, t, k, version) {
		return s.loaded(ctx, t, k, floor, start, "image")
	}
	err = s.docs.ScanDocuments(ctx, t, func(d store.DocumentRecord, cs []store.StoredChunk) error {
		return k.put(d, cs)
	})
	if err != nil {
		return fmt.Errorf("load knowledge base of %s: %w", t, err)
	}
	k.version = version
	k.ix.Compact() // release the slack of the rebuild
	if k.ix.Len() > 0 {
		k.dirty.Store(true) // its image, so that the next start reads it
	}
	return s.loaded(ctx, t, k, floor, start, "store")
}

// loaded ends the load of k: it catches k up to floor when the store
// answered from behind it, and marks k ready.
func (s *Service) loaded(ctx context.Context, t tenant.ID, k *kb, floor int64, start time.Time, from string) error {
	version := k.version
	if version < floor {
		if err := s.applyChanges(ctx, t, k); err != nil || k.version < floor {
			return fmt.Errorf("load knowledge base of %s: the store is at version %d, behind version %d already served: %v", t, k.version, floor, err)
		}
	}
	k.checked.Store(s.now().UnixNano())
	k.ready.Store(true)
	if k.dirty.Load() {
		s.schedule(t, k)
	}
	s.metrics.loads.Inc()
	if n := k.ix.Len(); n > 0 {
		s.log.Info("knowledge base loaded", "from", from, "tenant", t.String(), "documents", k.ix.Docs(), "chunks", n,
			"bytes", k.bytes.Load(), "ms", time.Since(start).Milliseconds())
	}
	return nil
}

// ixOpts are the options of the tenants' indexes.
func (s *Service) ixOpts() index.Options {
	return index.Options{FullVectors: s.opts.FullVectors}
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

// countTokens is the tokenizer used for context budgets.
var countTokens = tokens.Count
