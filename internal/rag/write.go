package rag

// Group commit: concurrent ingests of a tenant share one store transaction.

import (
	"context"
	"errors"
	"slices"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

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
// store and the index agree: the lock of k, the knowledge base whose queue
// holds the group, or of the one that replaced k when it was evicted. Each
// document is looked up again first: an ingest of the same ID may have
// landed since it was prepared, and an unchanged one is not written.
func (s *Service) writeGroup(ctx context.Context, t tenant.ID, k *kb, group []*pending) {
	defer func() {
		for _, w := range group {
			close(w.done)
		}
	}()
	k, err := s.lockWrite(ctx, t, k)
	if err != nil {
		for _, w := range group {
			w.err = api.Internal(err)
		}
		return
	}
	defer k.write.Unlock()
	defer s.enforceBudget(k)
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
			s.applyWritten(ctx, t, k, []*pending{w}, v, err)
		}
		return
	}
	s.applyWritten(ctx, t, k, fresh, version, err)
}

// applyWritten puts written documents in the index, or gives them the
// error of their write. The tenant's write lock is held.
func (s *Service) applyWritten(ctx context.Context, t tenant.ID, k *kb, written []*pending, version int64, err error) {
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
	before := k.currentVersion()
	for _, w := range written {
		if err := k.apply(w.ready); err != nil {
			w.err = api.Internal(err)
		}
		w.res.Version = version
		chunks += len(w.stored)
	}
	s.written(ctx, t, k, before, version, len(written))
	s.metrics.chunks.WithLabelValues(t.String()).Add(float64(chunks))
}
