package ratelimit_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/ratelimit/ratelimittest"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

var (
	acme   = tenant.MustID("acme")
	globex = tenant.MustID("globex")
	t0     = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func TestMemory(t *testing.T) {
	ratelimittest.TestStore(t, func(t *testing.T) ratelimit.Store {
		return ratelimit.NewMemory()
	})
}

// TestMemoryIdleExpiry feeds a stream of fresh keys (one per client, as IP
// limits see) and checks that the buckets of idle keys go away on their own.
func TestMemoryIdleExpiry(t *testing.T) {
	m := ratelimit.NewMemory()
	// A key's bucket is full again 1s after its one request (burst 1).
	l := ratelimit.Limit{Requests: 1, Per: time.Second, Burst: 1}
	const (
		keys  = 200_000
		every = 100 * time.Microsecond // 10,000 new keys per second
	)
	peak := 0
	for i := range keys {
		now := t0.Add(time.Duration(i) * every)
		if _, err := m.Allow(context.Background(), acme, now, []ratelimit.Request{{Key: fmt.Sprint("ip:", i), Limit: l}}); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			peak = max(peak, m.Len())
		}
	}
	// About 10,000 buckets are live at any time; each of the 64 shards holds
	// at most about twice its live ones, and at least 256 before it sweeps.
	const bound = 2*10_000 + 64*256 + 64
	if peak > bound {
		t.Errorf("%d keys, 10,000 live at a time: held up to %d buckets, want at most %d", keys, peak, bound)
	}
	// At the end, the buckets of the keys of the last second are not full
	// yet: keys 190,001 to 199,999. Sweep keeps exactly those.
	end := t0.Add(keys * every)
	m.Sweep(end)
	if got := m.Len(); got != 9_999 {
		t.Errorf("after sweeping at the end: %d buckets, want the 9,999 not yet full", got)
	}
	m.Sweep(end.Add(time.Second))
	if got := m.Len(); got != 0 {
		t.Errorf("after sweeping once every bucket is full: %d buckets, want 0", got)
	}
}

// TestMemorySweepKeepsLiveBuckets checks that sweeping forgets nothing that
// matters: a drained bucket survives a sweep while it is not full.
func TestMemorySweepKeepsLiveBuckets(t *testing.T) {
	m := ratelimit.NewMemory()
	l := ratelimit.Limit{Requests: 10, Per: time.Second, Burst: 5}
	r := []ratelimit.Request{{Key: "k", Limit: l}}
	for range 5 {
		if _, err := m.Allow(context.Background(), acme, t0, r); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Sweep(t0.Add(499 * time.Millisecond)); n != 0 {
		t.Errorf("Sweep before the bucket is full dropped %d buckets, want 0", n)
	}
	ds, err := m.Allow(context.Background(), acme, t0.Add(499*time.Millisecond), r)
	if err != nil {
		t.Fatal(err)
	}
	// A forgotten bucket would be full and have 4 left; the kept one had
	// refilled 4.99 requests' worth and has 3.
	if want := (ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 3, ResetAfter: 101 * time.Millisecond}); ds[0] != want {
		t.Errorf("after the sweep: got %+v, want %+v (state kept)", ds[0], want)
	}
	if n := m.Sweep(t0.Add(time.Second)); n != 1 {
		t.Errorf("Sweep after the bucket is full dropped %d buckets, want 1", n)
	}
}

// TestMemoryTimedSweep checks that a shard in use also drops idle buckets of
// other keys once a minute of the callers' time has passed.
func TestMemoryTimedSweep(t *testing.T) {
	m := ratelimit.NewMemory()
	l := ratelimit.Limit{Requests: 1, Per: time.Second, Burst: 1}
	for i := range 100 {
		if _, err := m.Allow(context.Background(), acme, t0, []ratelimit.Request{{Key: fmt.Sprint(i), Limit: l}}); err != nil {
			t.Fatal(err)
		}
	}
	// Touch every shard again two minutes later with keys of another tenant.
	for i := range 10_000 {
		if _, err := m.Allow(context.Background(), globex, t0.Add(2*time.Minute), []ratelimit.Request{{Key: fmt.Sprint(i % 1000), Limit: l}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Len(); got != 1000 {
		t.Errorf("got %d buckets, want the 1000 live ones of globex", got)
	}
}

func BenchmarkMemoryAllow(b *testing.B) {
	benchmarks := []struct {
		name  string
		rules int
	}{
		{"1 limit", 1},
		{"3 limits", 3},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			m := ratelimit.NewMemory()
			// Generous enough that requests are admitted.
			l := ratelimit.Limit{Requests: 1_000_000_000, Per: time.Second, Burst: 1_000_000}
			var seq atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine cycles through 1024 clients of its own.
				first := int(seq.Add(1)) * 1024
				reqs := make([]ratelimit.Request, bm.rules)
				for j := range reqs {
					reqs[j].Limit = l
				}
				for i := 0; pb.Next(); i++ {
					c := (first + i%1024) % len(ipKeys)
					if bm.rules == 1 {
						reqs[0].Key = ipKeys[c]
					} else {
						reqs[0].Key = "tenant" // shared by every goroutine
						reqs[1].Key = apiKeys[c%len(apiKeys)]
						reqs[2].Key = ipKeys[c]
					}
					if _, err := m.Allow(context.Background(), acme, time.Now(), reqs); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

var (
	ipKeys  = keys("ip:10.%d.%d.%d", 64*1024)
	apiKeys = keys("key:k_%d%d%d", 256)
)

func keys(format string, n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf(format, i>>16, (i>>8)&255, i&255)
	}
	return ks
}
