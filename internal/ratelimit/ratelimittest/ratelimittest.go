// Package ratelimittest is a conformance suite for ratelimit.Store, in the
// manner of testing/fstest: every store runs it from its own tests so that
// every store (memory, Redis) admits exactly the same requests.
//
// The suite passes its own clock to Allow, so a store must use the time it is
// given. A store's test passes a factory that returns a fresh, empty store
// and registers its cleanup with t.Cleanup:
//
//	func TestMemory(t *testing.T) {
//		ratelimittest.TestStore(t, func(t *testing.T) ratelimit.Store {
//			return ratelimit.NewMemory()
//		})
//	}
package ratelimittest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

var (
	acme   = tenant.MustID("acme")
	globex = tenant.MustID("globex")
	// t0 is the suite's fake clock at its start.
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// tenPerSec is 10 requests per second (T = 100ms) with bursts of 5.
	tenPerSec = ratelimit.Limit{Requests: 10, Per: time.Second, Burst: 5}
)

// TestStore runs the Store conformance suite against the stores returned by
// open. Each subtest calls open once and expects an empty store.
func TestStore(t *testing.T, open func(t *testing.T) ratelimit.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s ratelimit.Store)
	}{
		{"BurstBoundary", testBurstBoundary},
		{"DefaultBurst", testDefaultBurst},
		{"Refill", testRefill},
		{"SteadyRate", testSteadyRate},
		{"Cost", testCost},
		{"AllOrNothing", testAllOrNothing},
		{"DuplicateKeys", testDuplicateKeys},
		{"Isolation", testIsolation},
		{"LimitChange", testLimitChange},
		{"ClockBackwards", testClockBackwards},
		{"UnevenInterval", testUnevenInterval},
		{"Invalid", testInvalid},
		{"Empty", testEmpty},
		{"Cancelled", testCancelled},
		{"ConcurrentBoundary", testConcurrentBoundary},
		{"ConcurrentAllOrNothing", testConcurrentAllOrNothing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// allow checks one request and fails the test on an error.
func allow(t *testing.T, s ratelimit.Store, id tenant.ID, now time.Time, reqs ...ratelimit.Request) []ratelimit.Decision {
	t.Helper()
	ds, err := s.Allow(context.Background(), id, now, reqs)
	if err != nil {
		t.Fatalf("Allow: %v", err)
	}
	if len(ds) != len(reqs) {
		t.Fatalf("Allow returned %d decisions for %d requests", len(ds), len(reqs))
	}
	return ds
}

func req(key string, l ratelimit.Limit) ratelimit.Request {
	return ratelimit.Request{Key: key, Limit: l}
}

func at(d time.Duration) time.Time { return t0.Add(d) }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func checkDecision(t *testing.T, step string, got, want ratelimit.Decision) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %+v, want %+v", step, got, want)
	}
}

func testBurstBoundary(t *testing.T, s ratelimit.Store) {
	for i := range 5 {
		got := allow(t, s, acme, t0, req("k", tenPerSec))[0]
		want := ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 4 - i, ResetAfter: ms(100 * (i + 1))}
		checkDecision(t, "request "+string(rune('1'+i)), got, want)
	}
	for range 3 {
		got := allow(t, s, acme, t0, req("k", tenPerSec))[0]
		want := ratelimit.Decision{Limit: 5, Remaining: 0, ResetAfter: ms(500), RetryAfter: ms(100)}
		checkDecision(t, "over the burst", got, want)
	}
}

func testDefaultBurst(t *testing.T, s ratelimit.Store) {
	l := ratelimit.Limit{Requests: 4, Per: time.Second}
	n := 0
	for range 10 {
		if allow(t, s, acme, t0, req("k", l))[0].Allowed {
			n++
		}
	}
	if n != 4 {
		t.Errorf("burst 0 admitted %d at once, want 4 (requests)", n)
	}
	got := allow(t, s, acme, t0, req("k", l))[0]
	checkDecision(t, "refused", got, ratelimit.Decision{Limit: 4, ResetAfter: time.Second, RetryAfter: ms(250)})
}

func testRefill(t *testing.T, s ratelimit.Store) {
	for range 5 {
		allow(t, s, acme, t0, req("k", tenPerSec))
	}
	steps := []struct {
		name string
		at   time.Duration
		want ratelimit.Decision
	}{
		{"half an interval later", ms(50), ratelimit.Decision{Limit: 5, ResetAfter: ms(450), RetryAfter: ms(50)}},
		{"one interval later", ms(100), ratelimit.Decision{Allowed: true, Limit: 5, ResetAfter: ms(500)}},
		{"just before the next", ms(199), ratelimit.Decision{Limit: 5, ResetAfter: ms(401), RetryAfter: ms(1)}},
		{"three and a half intervals later", ms(350), ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 1, ResetAfter: ms(350)}},
		{"long idle", 10 * time.Second, ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 4, ResetAfter: ms(100)}},
	}
	for _, st := range steps {
		checkDecision(t, st.name, allow(t, s, acme, at(st.at), req("k", tenPerSec))[0], st.want)
	}
}

func testSteadyRate(t *testing.T, s ratelimit.Store) {
	tests := []struct {
		name  string
		every time.Duration
		span  time.Duration
		want  int
	}{
		// The burst goes at once, then one per 100ms interval: the k-th
		// admission (k > 5) is at (k-5)·100ms.
		{"every 10ms for 1s", ms(10), time.Second, 5 + 9},
		{"every 1ms for 10s", ms(1), 10 * time.Second, 5 + 99},
		{"every 100ms for 10s", ms(100), 10 * time.Second, 100},
		{"every 250ms for 10s", ms(250), 10 * time.Second, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "steady:" + tt.name
			n := 0
			for d := time.Duration(0); d < tt.span; d += tt.every {
				if allow(t, s, acme, at(d), req(key, tenPerSec))[0].Allowed {
					n++
				}
			}
			if n != tt.want {
				t.Errorf("admitted %d, want %d", n, tt.want)
			}
		})
	}
}

func testCost(t *testing.T, s ratelimit.Store) {
	r := ratelimit.Request{Key: "k", Limit: tenPerSec, Cost: 3}
	checkDecision(t, "cost 3", allow(t, s, acme, t0, r)[0],
		ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 2, ResetAfter: ms(300)})
	checkDecision(t, "cost 3 again", allow(t, s, acme, t0, r)[0],
		ratelimit.Decision{Limit: 5, Remaining: 2, ResetAfter: ms(300), RetryAfter: ms(100)})
	r.Cost = 2
	checkDecision(t, "cost 2", allow(t, s, acme, t0, r)[0],
		ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 0, ResetAfter: ms(500)})
	r.Cost = 5
	checkDecision(t, "cost 5 after a second", allow(t, s, acme, at(time.Second), r)[0],
		ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 0, ResetAfter: ms(500)})
}

func testAllOrNothing(t *testing.T, s ratelimit.Store) {
	wide := req("wide", tenPerSec)                                                     // burst 5
	narrow := req("narrow", ratelimit.Limit{Requests: 10, Per: time.Second, Burst: 2}) // burst 2
	for i := range 2 {
		ds := allow(t, s, acme, t0, wide, narrow)
		if !ds[0].Allowed || !ds[1].Allowed {
			t.Fatalf("request %d: got %+v, want both admitted", i+1, ds)
		}
	}
	for range 100 {
		ds := allow(t, s, acme, t0, wide, narrow)
		checkDecision(t, "wide limit of a refused request", ds[0],
			ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 3, ResetAfter: ms(200)})
		checkDecision(t, "narrow limit of a refused request", ds[1],
			ratelimit.Decision{Limit: 2, Remaining: 0, ResetAfter: ms(200), RetryAfter: ms(100)})
	}
	// The refused requests charged nothing: the wide bucket still has 3.
	checkDecision(t, "wide alone", allow(t, s, acme, t0, wide)[0],
		ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 2, ResetAfter: ms(300)})
	// The order of the requests does not matter.
	ds := allow(t, s, acme, t0, narrow, wide)
	if ds[0].Allowed || !ds[1].Allowed || ds[1].Remaining != 2 {
		t.Errorf("narrow then wide: got %+v, want narrow refused and wide uncharged with 2 remaining", ds)
	}
}

func testDuplicateKeys(t *testing.T, s ratelimit.Store) {
	ds := allow(t, s, acme, t0, req("k", tenPerSec), req("k", tenPerSec))
	if !ds[0].Allowed || !ds[1].Allowed || ds[0].Remaining != 4 || ds[1].Remaining != 3 {
		t.Errorf("same key twice: got %+v, want both admitted with 4 then 3 remaining", ds)
	}
	if got := allow(t, s, acme, t0, req("k", tenPerSec))[0]; got.Remaining != 2 {
		t.Errorf("after the pair: got %+v, want 2 remaining", got)
	}

	one := ratelimit.Limit{Requests: 1, Per: time.Second, Burst: 1}
	ds = allow(t, s, acme, t0, req("one", one), req("one", one))
	if ds[0].Allowed && ds[1].Allowed {
		t.Fatalf("same key twice at burst 1: got %+v, want a refusal", ds)
	}
	if got := allow(t, s, acme, t0, req("one", one))[0]; !got.Allowed {
		t.Errorf("after the refused pair: got %+v, want admitted (nothing charged)", got)
	}
}

func testIsolation(t *testing.T, s ratelimit.Store) {
	for range 5 {
		allow(t, s, acme, t0, req("k", tenPerSec))
	}
	if got := allow(t, s, acme, t0, req("k", tenPerSec))[0]; got.Allowed {
		t.Fatalf("acme/k: got %+v, want refused", got)
	}
	if got := allow(t, s, globex, t0, req("k", tenPerSec))[0]; !got.Allowed || got.Remaining != 4 {
		t.Errorf("globex/k: got %+v, want a full bucket of its own", got)
	}
	if got := allow(t, s, acme, t0, req("k2", tenPerSec))[0]; !got.Allowed || got.Remaining != 4 {
		t.Errorf("acme/k2: got %+v, want a full bucket of its own", got)
	}
}

func testLimitChange(t *testing.T, s ratelimit.Store) {
	for range 5 {
		allow(t, s, acme, t0, req("k", tenPerSec))
	}
	lower := ratelimit.Limit{Requests: 10, Per: time.Second, Burst: 2}
	checkDecision(t, "burst lowered to 2", allow(t, s, acme, t0, req("k", lower))[0],
		ratelimit.Decision{Limit: 2, Remaining: 0, ResetAfter: ms(500), RetryAfter: ms(400)})
	higher := ratelimit.Limit{Requests: 10, Per: time.Second, Burst: 10}
	checkDecision(t, "burst raised to 10", allow(t, s, acme, t0, req("k", higher))[0],
		ratelimit.Decision{Allowed: true, Limit: 10, Remaining: 4, ResetAfter: ms(600)})
}

func testClockBackwards(t *testing.T, s ratelimit.Store) {
	allow(t, s, acme, at(10*time.Second), req("k", tenPerSec))
	for _, d := range []time.Duration{9 * time.Second, 0, -time.Hour} {
		got := allow(t, s, acme, at(d), req("k", tenPerSec))[0]
		if got.Allowed || got.Remaining != 0 || got.RetryAfter <= 0 || got.ResetAfter <= 0 {
			t.Errorf("at %s, before the stored TAT: got %+v, want a refusal with positive waits", d, got)
		}
	}
	if got := allow(t, s, acme, at(10*time.Second), req("k", tenPerSec))[0]; !got.Allowed || got.Remaining != 3 {
		t.Errorf("back at 10s: got %+v, want admitted with 3 remaining", got)
	}
}

func testUnevenInterval(t *testing.T, s ratelimit.Store) {
	// 7 per minute: T = 8.571428571s, truncated to the nanosecond.
	l := ratelimit.Limit{Requests: 7, Per: time.Minute}
	n := 0
	for range 10 {
		if allow(t, s, acme, t0, req("k", l))[0].Allowed {
			n++
		}
	}
	if n != 7 {
		t.Errorf("admitted %d at once, want 7", n)
	}
	got := allow(t, s, acme, t0, req("k", l))[0]
	if want := l.Interval(); got.RetryAfter != want {
		t.Errorf("RetryAfter = %s, want the interval %s", got.RetryAfter, want)
	}
	if got := allow(t, s, acme, at(l.Interval()), req("k", l))[0]; !got.Allowed {
		t.Errorf("one interval later: got %+v, want admitted", got)
	}
}

func testInvalid(t *testing.T, s ratelimit.Store) {
	good := req("k", tenPerSec)
	tests := []struct {
		name string
		id   tenant.ID
		reqs []ratelimit.Request
	}{
		{"zero tenant", tenant.ID{}, []ratelimit.Request{good}},
		{"empty key", acme, []ratelimit.Request{good, req("", tenPerSec)}},
		{"long key", acme, []ratelimit.Request{good, req(strings.Repeat("k", ratelimit.MaxKeyBytes+1), tenPerSec)}},
		{"zero requests", acme, []ratelimit.Request{good, req("z", ratelimit.Limit{Per: time.Second})}},
		{"zero period", acme, []ratelimit.Request{good, req("z", ratelimit.Limit{Requests: 1})}},
		{"negative burst", acme, []ratelimit.Request{good, req("z", ratelimit.Limit{Requests: 1, Per: time.Second, Burst: -1})}},
		{"negative cost", acme, []ratelimit.Request{good, {Key: "z", Limit: tenPerSec, Cost: -1}}},
		{"cost above burst", acme, []ratelimit.Request{good, {Key: "z", Limit: tenPerSec, Cost: 6}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Allow(context.Background(), tt.id, t0, tt.reqs)
			if !errors.Is(err, ratelimit.ErrInvalid) {
				t.Errorf("got error %v, want ErrInvalid", err)
			}
		})
	}
	if got := allow(t, s, acme, t0, good)[0]; got.Remaining != 4 {
		t.Errorf("after the invalid calls: got %+v, want an untouched bucket", got)
	}
}

func testEmpty(t *testing.T, s ratelimit.Store) {
	ds, err := s.Allow(context.Background(), acme, t0, nil)
	if err != nil || len(ds) != 0 {
		t.Errorf("Allow(no requests) = %v, %v; want no decisions and no error", ds, err)
	}
}

func testCancelled(t *testing.T, s ratelimit.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Allow(ctx, acme, t0, []ratelimit.Request{req("k", tenPerSec)}); !errors.Is(err, context.Canceled) {
		t.Errorf("with a cancelled context: got error %v, want context.Canceled", err)
	}
	if got := allow(t, s, acme, t0, req("k", tenPerSec))[0]; got.Remaining != 4 {
		t.Errorf("after the cancelled call: got %+v, want an untouched bucket", got)
	}
}

// run calls fn from n goroutines at once and waits for them.
func run(n int, fn func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			start.Wait()
			fn(i)
		})
	}
	start.Done()
	done.Wait()
}

func testConcurrentBoundary(t *testing.T, s ratelimit.Store) {
	l := ratelimit.Limit{Requests: 100, Per: time.Minute, Burst: 100}
	var admitted, failed atomic.Int64
	run(500, func(int) {
		ds, err := s.Allow(context.Background(), acme, t0, []ratelimit.Request{req("k", l)})
		switch {
		case err != nil:
			failed.Add(1)
		case ds[0].Allowed:
			admitted.Add(1)
		}
	})
	if failed.Load() != 0 {
		t.Fatalf("%d calls failed", failed.Load())
	}
	if got := admitted.Load(); got != 100 {
		t.Errorf("500 concurrent requests against a burst of 100 at a frozen clock: admitted %d, want 100", got)
	}
}

func testConcurrentAllOrNothing(t *testing.T, s ratelimit.Store) {
	wide := req("wide", ratelimit.Limit{Requests: 100, Per: time.Minute, Burst: 100})
	narrow := req("narrow", ratelimit.Limit{Requests: 50, Per: time.Minute, Burst: 50})
	var admitted, failed atomic.Int64
	run(300, func(i int) {
		reqs := []ratelimit.Request{wide, narrow}
		if i%2 == 1 {
			reqs = []ratelimit.Request{narrow, wide} // the other lock order
		}
		ds, err := s.Allow(context.Background(), acme, t0, reqs)
		switch {
		case err != nil:
			failed.Add(1)
		case ds[0].Allowed && ds[1].Allowed:
			admitted.Add(1)
		}
	})
	if failed.Load() != 0 {
		t.Fatalf("%d calls failed", failed.Load())
	}
	if got := admitted.Load(); got != 50 {
		t.Errorf("admitted %d, want 50 (the narrow burst)", got)
	}
	// 250 refused requests charged the wide bucket nothing.
	if got := allow(t, s, acme, t0, wide)[0]; !got.Allowed || got.Remaining != 49 {
		t.Errorf("wide alone afterwards: got %+v, want admitted with 49 remaining", got)
	}
}
