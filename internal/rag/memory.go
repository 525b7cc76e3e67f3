package rag

// The memory budget of the indexes a replica holds: each knowledge base's
// size is estimated from what it holds, and when their sum passes
// Options.IndexMemory the least recently used are dropped, to be loaded
// again from the store on their next use.

import (
	"cmp"
	"slices"

	"github.com/crispy-enigma/crispy/internal/rag/index"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// chunkOverhead is the estimated memory of a chunk beyond its text, vector
// and postings: the index's per-slot arrays, the chunk ID, the chunkInfo
// and its share of its document's, the map entries that find them, and the
// terms' share of the dictionary beyond termBytes. Measured with BenchmarkReload (heap after
// a load over the estimate).
const chunkOverhead = 350

// termBytes is the estimated memory of a distinct term of a knowledge base:
// its string, its dictionary entry and its postings' headers.
const termBytes = 110

// chunkBytes estimates what a chunk costs in memory beyond its postings
// (see indexed.size): its vector (one byte a dimension and a float32 scale
// as int8 codes, four bytes a dimension with full vectors), the text
// results show, its ID and the fixed overhead.
func chunkBytes(e index.Entry, text string, fullVectors bool) int64 {
	vec := int64(len(e.Vector)) + 4
	switch {
	case len(e.Vector) == 0:
		vec = 0
	case fullVectors:
		vec = 4 * int64(len(e.Vector))
	}
	return chunkOverhead + vec + int64(len(text)) + int64(len(e.ChunkID))
}

// enforceBudget drops the least recently used knowledge bases until those
// held fit in Options.IndexMemory, keeping keep (the one in use) and those
// being written or loaded. A single knowledge base larger than the budget
// stays: it is needed to answer.
func (s *Service) enforceBudget(keep *kb) {
	if s.opts.IndexMemory <= 0 {
		return
	}
	type held struct {
		id   tenant.ID
		k    *kb
		used int64
	}
	var total int64
	var cands []held
	s.mu.Lock()
	for id, k := range s.tenants {
		if !k.ready.Load() {
			continue
		}
		total += k.bytes.Load()
		if k != keep {
			cands = append(cands, held{id, k, k.used.Load()})
		}
	}
	s.mu.Unlock()
	if total <= s.opts.IndexMemory {
		return
	}
	slices.SortFunc(cands, func(a, b held) int { return cmp.Compare(a.used, b.used) })
	for _, c := range cands {
		if total <= s.opts.IndexMemory {
			return
		}
		if !c.k.write.TryLock() {
			continue // being written or caught up: in use
		}
		if !c.k.evicted.Load() {
			total -= c.k.bytes.Load()
			s.evict(c.id, c.k)
			s.metrics.evictions.Inc()
			s.log.Debug("knowledge base evicted", "tenant", c.id.String(), "bytes", c.k.bytes.Load())
		}
		c.k.write.Unlock()
	}
}

// evict drops k, the tenant's knowledge base, whose write lock is held:
// queries that hold it finish on it, writes move to the tenant's next
// knowledge base, which the next use loads. The version k reached becomes
// the tenant's floor: no knowledge base of the tenant loaded later answers
// with an older one.
func (s *Service) evict(t tenant.ID, k *kb) {
	k.evicted.Store(true)
	v := k.currentVersion()
	s.mu.Lock()
	if s.tenants[t] == k {
		delete(s.tenants, t)
	}
	if v > s.floor[t] {
		s.floor[t] = v
	}
	s.mu.Unlock()
}

// IndexBytes returns the estimated memory of the knowledge bases held, by
// tenant.
func (s *Service) IndexBytes() map[tenant.ID]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[tenant.ID]int64, len(s.tenants))
	for id, k := range s.tenants {
		if k.ready.Load() {
			out[id] = k.bytes.Load()
		}
	}
	return out
}
