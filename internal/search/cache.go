package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// cacheOn reports whether the caller's tenant caches search answers.
func (s *Service) cacheOn(c tenant.Caller) bool {
	return s.cache != nil && c.Tenant.Config.Cache.Enabled
}

// cacheKey keys a search by everything that decides its answer: the corpus
// version (so any ingest or delete invalidates it), the query in cache
// form, the filters, topK and the model named. The tenant is not in the
// key: the store keeps each tenant's keys apart.
func cacheKey(version int64, query string, req Request) string {
	h := sha256.New()
	filters, _ := json.Marshal(req.Filters) // map keys are sorted: canonical
	for _, part := range []string{strconv.FormatInt(version, 10), cacheForm(query), string(filters), strconv.Itoa(req.TopK), req.Model} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "search:v1:" + hex.EncodeToString(h.Sum(nil))
}

// lookup returns the cached result under key, if any. A store failure is
// logged and counts as a miss: the search runs instead.
func (s *Service) lookup(ctx context.Context, c tenant.Caller, key string) (api.SearchResult, bool) {
	var hit api.SearchResult
	b, err := s.cache.Get(ctx, c.Tenant.ID, key)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("search cache read failed", "tenant", c.Tenant.ID.String(), "error", err)
		}
		return hit, false
	}
	if err := json.Unmarshal(b, &hit); err != nil {
		s.log.Warn("search cache entry unreadable; searching again", "tenant", c.Tenant.ID.String(), "error", err)
		return hit, false
	}
	return hit, true
}

// store caches a result, without its timings and trace.
func (s *Service) store(ctx context.Context, c tenant.Caller, key string, res *api.SearchResult) {
	v := *res
	v.Timings, v.TraceID, v.Cached = nil, "", false
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	if err := s.cache.Set(context.WithoutCancel(ctx), c.Tenant.ID, key, b, c.Tenant.Config.Cache.SearchTTL.D()); err != nil {
		s.log.Warn("search cache write failed", "tenant", c.Tenant.ID.String(), "error", err)
	}
}
