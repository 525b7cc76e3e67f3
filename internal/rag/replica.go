package rag

// Keeping the indexes of several replicas fresh over one shared store.
//
// Every change to a tenant's knowledge base bumps its corpus version and is
// recorded, in the same transaction, in the store's change feed
// (store.Documents.Changes). A knowledge base in memory is labelled with
// the version it holds; it catches up by applying the changes after that
// version: it re-reads the documents they put, with their chunks, and drops
// those they deleted. Three things start a catch-up:
//
//   - a notification that the tenant is at a newer version (Notify, which
//     the PostgreSQL listener calls for each committed change);
//   - a query, when the version was last checked against the store
//     Options.CheckInterval ago or more (Options.Replicated only): a
//     safety net for lost notifications;
//   - a write of this replica whose new version is not the next one(s),
//     because another replica wrote in between.
//
// A knowledge base's version never goes back, and one loaded after an
// eviction answers with at least the version the evicted one reached, so a
// replica never answers a query of a tenant with an older version than it
// already did.

import (
	"context"
	"errors"
	"fmt"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Notify tells the Service that the tenant's corpus is at version: when it
// holds the tenant's knowledge base at an older version, a goroutine of the
// Service catches it up. It returns at once; a tenant not held is loaded
// fresh on its next use. The PostgreSQL listener calls it
// (postgres.ListenOptions.OnChange).
func (s *Service) Notify(t tenant.ID, version int64) {
	s.mu.Lock()
	k := s.tenants[t]
	s.mu.Unlock()
	if k == nil {
		return
	}
	for {
		cur := k.target.Load()
		if version <= cur || k.target.CompareAndSwap(cur, version) {
			break
		}
	}
	// A knowledge base being loaded looks at its target when the load
	// ends (its scan may have missed the change).
	if k.ready.Load() && version > k.currentVersion() {
		s.follow(t, k)
	}
}

// Resync checks every knowledge base held against the store, in a
// goroutine of the Service, and catches up those behind: notifications may
// have been lost (the PostgreSQL listener calls it when it reconnects,
// postgres.ListenOptions.OnConnect).
func (s *Service) Resync() {
	s.mu.Lock()
	held := make(map[tenant.ID]*kb, len(s.tenants))
	for id, k := range s.tenants {
		if k.ready.Load() {
			held[id] = k
		}
	}
	s.mu.Unlock()
	if len(held) == 0 {
		return
	}
	s.spawn(func() {
		for t, k := range held {
			if s.ctx.Err() != nil {
				return
			}
			v, err := s.docs.CorpusVersion(s.ctx, t)
			if err != nil {
				s.log.Warn("corpus version check failed", "tenant", t.String(), "error", err)
				continue
			}
			k.checked.Store(s.now().UnixNano())
			if v > k.currentVersion() {
				if err := s.catchUp(s.ctx, t, k); err != nil {
					s.log.Warn("knowledge base catch-up failed", "tenant", t.String(), "error", err)
				}
			}
		}
	})
}

// follow starts the catch-up goroutine of k unless it runs; the goroutine
// catches up until k reaches the highest version notified.
func (s *Service) follow(t tenant.ID, k *kb) {
	if !k.catching.CompareAndSwap(false, true) {
		return
	}
	if !s.spawn(func() {
		for {
			target := k.target.Load()
			err := s.catchUp(s.ctx, t, k)
			if err != nil && s.ctx.Err() == nil {
				s.log.Warn("knowledge base catch-up failed", "tenant", t.String(), "error", err)
			}
			k.catching.Store(false)
			// Go on only when a newer notification came during the
			// catch-up and nobody took it.
			if err != nil || k.evicted.Load() || s.ctx.Err() != nil ||
				k.target.Load() == target || k.currentVersion() >= k.target.Load() ||
				!k.catching.CompareAndSwap(false, true) {
				return
			}
		}
	}) {
		k.catching.Store(false) // closed: nothing catches up any more
	}
}

// spawn runs fn in a goroutine of the Service, unless Close has begun:
// Close waits for those it started, and none may start after.
func (s *Service) spawn(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.bg.Go(fn)
	return true
}

// check is the safety net of a query with Options.Replicated: when the
// tenant's version was last checked CheckInterval ago or more, one query
// reads the corpus version and, when the store is ahead, catches up before
// it answers.
func (s *Service) check(ctx context.Context, t tenant.ID, k *kb) {
	now := s.now().UnixNano()
	last := k.checked.Load()
	if now-last < int64(s.opts.CheckInterval) || !k.checked.CompareAndSwap(last, now) {
		return
	}
	v, err := s.docs.CorpusVersion(ctx, t)
	if err != nil {
		s.log.Warn("corpus version check failed; answering from the index held", "tenant", t.String(), "error", err)
		return
	}
	if v > k.currentVersion() {
		if err := s.catchUp(ctx, t, k); err != nil {
			s.log.Warn("knowledge base catch-up failed; answering from the index held", "tenant", t.String(), "error", err)
		}
	}
}

// catchUp applies to k the changes of the store after its version, under
// its write lock. When the feed no longer reaches back to k's version, k is
// evicted: the tenant's next use loads it whole.
func (s *Service) catchUp(ctx context.Context, t tenant.ID, k *kb) error {
	k.write.Lock()
	defer k.write.Unlock()
	if k.evicted.Load() {
		return nil
	}
	err := s.applyChanges(ctx, t, k)
	if errors.Is(err, store.ErrPruned) {
		s.log.Info("knowledge base too far behind its change feed; reloading it", "tenant", t.String(), "version", k.currentVersion())
		s.evict(t, k)
		s.metrics.resets.Inc()
		return nil
	}
	s.enforceBudget(k)
	return err
}

// applyChanges applies the changes after k's version, page by page. The
// caller holds k.write. Each page's documents are read as they are now,
// which may be newer than the page's last version: k is then labelled older
// than what it holds, never newer, and the next catch-up reads them again.
func (s *Service) applyChanges(ctx context.Context, t tenant.ID, k *kb) error {
	for {
		changes, err := s.docs.Changes(ctx, t, k.currentVersion(), 0)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		// The last change of each document decides.
		deleted := make(map[string]bool, len(changes))
		var order []string
		for _, c := range changes {
			if _, ok := deleted[c.DocID]; !ok {
				order = append(order, c.DocID)
			}
			deleted[c.DocID] = c.Deleted
		}
		for _, id := range order {
			if deleted[id] {
				k.remove(id)
				continue
			}
			d, cs, err := s.readDocument(ctx, t, id)
			switch {
			case errors.Is(err, store.ErrNotFound):
				k.remove(id) // deleted since
			case err != nil:
				return err
			default:
				if err := k.put(d, cs); err != nil {
					return fmt.Errorf("index document %q: %w", id, err)
				}
			}
		}
		k.setVersion(changes[len(changes)-1].Version)
		s.metrics.applied.Add(float64(len(changes)))
		if k.ready.Load() {
			s.schedule(t, k)
		}
		if len(changes) < store.MaxChangesPage {
			return nil
		}
	}
}

// readDocument reads a document and its chunks from one put: it reads the
// record, the chunks and the record again, and tries again when a put
// landed in between.
func (s *Service) readDocument(ctx context.Context, t tenant.ID, id string) (store.DocumentRecord, []store.StoredChunk, error) {
	for attempt := 0; ; attempt++ {
		d, err := s.docs.Document(ctx, t, id)
		if err != nil {
			return d, nil, err
		}
		cs, err := s.docs.Chunks(ctx, t, id)
		if err != nil {
			return d, nil, err
		}
		again, err := s.docs.Document(ctx, t, id)
		if err != nil {
			return d, nil, err
		}
		if (again.Hash == d.Hash && again.Updated.Equal(d.Updated) && len(cs) == d.Chunks) || attempt == 4 {
			return again, cs, nil
		}
	}
}

// lockWrite locks the write lock of the tenant's current knowledge base: k,
// or the one that took its place when k was evicted (loaded if need be).
func (s *Service) lockWrite(ctx context.Context, t tenant.ID, k *kb) (*kb, error) {
	for {
		k.write.Lock()
		if !k.evicted.Load() {
			return k, nil
		}
		k.write.Unlock()
		var err error
		if k, err = s.base(ctx, t); err != nil {
			return nil, err
		}
	}
}

// written moves k's version to version after this replica's write of n
// changes, which k holds already, from version before. When other replicas
// wrote in between (version is not before+n), k catches up on the changes
// after before, its own included. The caller holds k.write.
func (s *Service) written(ctx context.Context, t tenant.ID, k *kb, before, version int64, n int) {
	s.schedule(t, k)
	if version == before+int64(n) {
		k.setVersion(version)
		return
	}
	err := s.applyChanges(context.WithoutCancel(ctx), t, k)
	if errors.Is(err, store.ErrPruned) {
		s.evict(t, k)
		s.metrics.resets.Inc()
		return
	}
	if err != nil {
		s.log.Warn("knowledge base catch-up after a write failed", "tenant", t.String(), "error", err)
	}
}
