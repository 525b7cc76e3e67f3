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
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
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

// Caller says who asks, for budgets, usage and audit.
type Caller struct {
	Tenant    *tenant.Tenant
	Key       *tenant.Key
	RequestID string
}

func (c Caller) call() gateway.Call {
	return gateway.Call{Tenant: c.Tenant, Key: c.Key, Route: gateway.RouteEmbedding, RequestID: c.RequestID}
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

func keyID(k *tenant.Key) string {
	if k == nil {
		return ""
	}
	return k.ID
}

// countTokens is the tokenizer used for context budgets.
var countTokens = tokens.Count
