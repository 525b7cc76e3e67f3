package ratelimit

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Sizes of the Memory store.
const (
	memoryShards = 64 // a power of two
	// sweepMinLen is the size below which a shard is swept only on time.
	sweepMinLen = 256
	// sweepEvery is how often, in the callers' time, a shard in use is swept.
	sweepEvery = time.Minute
)

// Memory is a Store that keeps buckets in process memory: a map from tenant
// and key to TAT, split into 64 shards with a mutex each. It is the embedded
// default; replicas that must share limits need a shared store (package
// redis).
//
// Memory stays bounded without a goroutine: a bucket whose TAT has passed is
// full, the same as a missing one, and a shard drops such entries while it
// is locked for an Allow, when it has grown to twice its size after the last
// sweep (at least 256 entries) or when a minute of the callers' time has
// passed since. An idle key therefore lives at most about its limit's
// Burst·Per/Requests after its last admitted request, and a shard holds at
// most about twice its live buckets; a shard whose map has shrunk to a
// quarter of its peak is copied into a fresh map, since Go maps never give
// back room. Sweep drops expired entries on demand. There is nothing to
// close.
//
// The zero value is not usable; call NewMemory.
type Memory struct {
	seed   maphash.Seed
	shards [memoryShards]shard
}

var _ Store = (*Memory)(nil)

type bucketKey struct {
	t tenant.ID
	k string
}

type shard struct {
	mu        sync.Mutex
	tats      map[bucketKey]int64
	nextSweep int64 // unix nanoseconds at which the shard is next swept
	sweepLen  int   // the size at which the shard is next swept
	peak      int   // the most entries held since the map was last rebuilt
	_         [24]byte
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].tats = make(map[bucketKey]int64)
		m.shards[i].sweepLen = sweepMinLen
	}
	return m
}

// entry is one request of an Allow call being worked on.
type entry struct {
	key   bucketKey
	shard int
	g     gcra
	tat   int64 // stored TAT, or the TAT left by an earlier request for the same key
	next  int64 // TAT after this request
}

// Allow implements Store.
func (m *Memory) Allow(ctx context.Context, t tenant.ID, now time.Time, reqs []Request) ([]Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckRequests(t, reqs); err != nil {
		return nil, err
	}
	if len(reqs) == 0 {
		return nil, nil
	}
	nowNs := now.UnixNano()
	ds := make([]Decision, len(reqs))

	var ebuf [4]entry
	es := ebuf[:0]
	var sbuf [4]int
	shards := sbuf[:0]
	for _, r := range reqs {
		k := bucketKey{t: t, k: r.Key}
		i := m.shardOf(k)
		es = append(es, entry{key: k, shard: i, g: newGCRA(r.Limit)})
		if !slices.Contains(shards, i) {
			shards = append(shards, i)
		}
	}
	// Lock in ascending order so that batches over the same shards never
	// deadlock.
	slices.Sort(shards)
	for _, i := range shards {
		m.shards[i].mu.Lock()
	}
	defer func() {
		for _, i := range shards {
			m.shards[i].mu.Unlock()
		}
	}()

	all := true
	for i := range es {
		e := &es[i]
		e.tat = m.shards[e.shard].tats[e.key]
		for j := i - 1; j >= 0; j-- {
			if es[j].key == e.key {
				e.tat = es[j].next
				break
			}
		}
		e.next, ds[i] = e.g.step(e.tat, nowNs, reqs[i].Cost)
		all = all && ds[i].Allowed
	}
	if all {
		for _, e := range es {
			m.shards[e.shard].tats[e.key] = e.next
		}
	} else {
		// Nothing is charged: the limits that would have admitted report
		// their buckets as they are.
		for i, e := range es {
			if ds[i].Allowed {
				ds[i] = e.g.state(m.shards[e.shard].tats[e.key], nowNs)
				ds[i].Allowed = true
			}
		}
	}
	for _, i := range shards {
		m.shards[i].maybeSweep(nowNs)
	}
	return ds, nil
}

func (m *Memory) shardOf(k bucketKey) int {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(k.t.String())
	h.WriteByte(0)
	h.WriteString(k.k)
	return int(h.Sum64() & (memoryShards - 1))
}

// Len returns the number of buckets held, expired or not.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.tats)
		s.mu.Unlock()
	}
	return n
}

// Sweep drops the buckets that are full at now (TAT not after now) and
// returns how many it dropped. Allow sweeps on its own; Sweep is for callers
// that want memory back after traffic stops.
func (m *Memory) Sweep(now time.Time) int {
	nowNs := now.UnixNano()
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.sweep(nowNs)
		s.mu.Unlock()
	}
	return n
}

// maybeSweep sweeps the locked shard when it is due.
func (s *shard) maybeSweep(now int64) {
	s.peak = max(s.peak, len(s.tats))
	if len(s.tats) >= s.sweepLen || now >= s.nextSweep {
		s.sweep(now)
	}
}

// sweep drops the expired buckets of the locked shard.
func (s *shard) sweep(now int64) int {
	n := 0
	for k, tat := range s.tats {
		if tat <= now {
			delete(s.tats, k)
			n++
		}
	}
	s.nextSweep = now + int64(sweepEvery)
	s.sweepLen = max(2*len(s.tats), sweepMinLen)
	// A Go map never gives back the room its deleted entries took: copy the
	// survivors into a new one once most of that room is unused.
	if s.peak > sweepMinLen && len(s.tats) < s.peak/4 {
		tats := make(map[bucketKey]int64, len(s.tats))
		for k, tat := range s.tats {
			tats[k] = tat
		}
		s.tats = tats
		s.peak = len(tats)
	}
	return n
}
