// Package budgettest is a conformance suite for gateway.BudgetStore, in the
// manner of testing/fstest: the memory store and every shared store run it
// so that they all admit and count the same.
//
// A store's test passes a factory that returns a fresh, empty store and
// registers its cleanup with t.Cleanup:
//
//	func TestMemoryBudgets(t *testing.T) {
//		budgettest.TestStore(t, func(t *testing.T) gateway.BudgetStore {
//			return gateway.NewMemoryBudgets()
//		})
//	}
package budgettest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/crispy-enigma/crispy/internal/gateway"
)

var (
	tenantDay = gateway.Counter{Tenant: "acme", Metric: gateway.MetricTokens, Period: "d2026-11-26"}
	keyDay    = gateway.Counter{Tenant: "acme", Key: "k1", Metric: gateway.MetricTokens, Period: "d2026-11-26"}
	otherDay  = gateway.Counter{Tenant: "globex", Metric: gateway.MetricTokens, Period: "d2026-11-26"}
	spendDay  = gateway.Counter{Tenant: "acme", Metric: gateway.MetricCostMicros, Period: "d2026-11-26"}
)

// TestStore runs the BudgetStore conformance suite against the stores
// returned by open. Each subtest calls open once and expects an empty
// store.
func TestStore(t *testing.T, open func(t *testing.T) gateway.BudgetStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s gateway.BudgetStore)
	}{
		{"HoldAndSettle", testHoldAndSettle},
		{"AllOrNothing", testAllOrNothing},
		{"Isolation", testIsolation},
		{"Seed", testSeed},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

func hold(t *testing.T, s gateway.BudgetStore, id string, holds ...gateway.Hold) gateway.HoldResult {
	t.Helper()
	r, err := s.Hold(context.Background(), id, holds)
	if err != nil {
		t.Fatalf("Hold: %v", err)
	}
	return r
}

func settle(t *testing.T, s gateway.BudgetStore, id string, ss ...gateway.Settlement) {
	t.Helper()
	if err := s.Settle(context.Background(), id, ss); err != nil {
		t.Fatalf("Settle: %v", err)
	}
}

func used(t *testing.T, s gateway.BudgetStore, c gateway.Counter) int64 {
	t.Helper()
	n, err := s.Used(context.Background(), c)
	if err != nil {
		t.Fatalf("Used: %v", err)
	}
	return n
}

func testHoldAndSettle(t *testing.T, s gateway.BudgetStore) {
	if r := hold(t, s, "r1", gateway.Hold{Counter: tenantDay, Limit: 100, Amount: 60}); !r.Held {
		t.Fatalf("60 of 100: got %+v, want held", r)
	}
	// Held but not settled: 41 more do not fit beside it.
	r := hold(t, s, "r2", gateway.Hold{Counter: tenantDay, Limit: 100, Amount: 41})
	if want := (gateway.HoldResult{Refused: 0, Used: 0, Reserved: 60}); r != want {
		t.Fatalf("41 more: got %+v, want %+v", r, want)
	}
	if r := hold(t, s, "r3", gateway.Hold{Counter: tenantDay, Limit: 100, Amount: 40}); !r.Held {
		t.Fatalf("40 more fit exactly: got %+v", r)
	}
	settle(t, s, "r1", gateway.Settlement{Counter: tenantDay, Held: 60, Used: 50})
	settle(t, s, "r3", gateway.Settlement{Counter: tenantDay, Held: 40, Used: 10})
	if got := used(t, s, tenantDay); got != 60 {
		t.Errorf("used %d, want 60", got)
	}
	r = hold(t, s, "r4", gateway.Hold{Counter: tenantDay, Limit: 100, Amount: 41})
	if want := (gateway.HoldResult{Refused: 0, Used: 60, Reserved: 0}); r != want {
		t.Errorf("41 after 60 settled: got %+v, want %+v", r, want)
	}
	// A call that failed settles nothing and frees its hold.
	if r := hold(t, s, "r5", gateway.Hold{Counter: tenantDay, Limit: 100, Amount: 40}); !r.Held {
		t.Fatalf("40 after 60: got %+v, want held", r)
	}
	settle(t, s, "r5", gateway.Settlement{Counter: tenantDay, Held: 40})
	if r := hold(t, s, "r6", gateway.Hold{Counter: tenantDay, Limit: 100, Amount: 40}); !r.Held {
		t.Errorf("40 after a released hold: got %+v, want held", r)
	}
}

func testAllOrNothing(t *testing.T, s gateway.BudgetStore) {
	wide := gateway.Hold{Counter: tenantDay, Limit: 1000, Amount: 30}
	narrow := gateway.Hold{Counter: keyDay, Limit: 50, Amount: 30}
	if r := hold(t, s, "a", wide, narrow); !r.Held {
		t.Fatalf("first: got %+v, want held", r)
	}
	r := hold(t, s, "b", wide, narrow)
	if want := (gateway.HoldResult{Refused: 1, Reserved: 30}); r != want {
		t.Fatalf("second: got %+v, want %+v", r, want)
	}
	// The refused hold took nothing of the wide counter: 970 still fit.
	if r := hold(t, s, "c", gateway.Hold{Counter: tenantDay, Limit: 1000, Amount: 970}); !r.Held {
		t.Errorf("the rest of the wide counter: got %+v, want held", r)
	}
	// Metrics are counted apart.
	if r := hold(t, s, "d", gateway.Hold{Counter: spendDay, Limit: 10, Amount: 10}); !r.Held {
		t.Errorf("spend beside tokens: got %+v, want held", r)
	}
}

func testIsolation(t *testing.T, s gateway.BudgetStore) {
	if r := hold(t, s, "a", gateway.Hold{Counter: tenantDay, Limit: 10, Amount: 10}); !r.Held {
		t.Fatalf("acme: got %+v", r)
	}
	settle(t, s, "a", gateway.Settlement{Counter: tenantDay, Held: 10, Used: 10})
	if r := hold(t, s, "b", gateway.Hold{Counter: otherDay, Limit: 10, Amount: 10}); !r.Held {
		t.Errorf("globex, after acme spent its budget: got %+v, want held", r)
	}
	if got := used(t, s, otherDay); got != 0 {
		t.Errorf("globex used %d, want 0", got)
	}
	next := tenantDay
	next.Period = "d2026-11-27"
	if r := hold(t, s, "c", gateway.Hold{Counter: next, Limit: 10, Amount: 10}); !r.Held {
		t.Errorf("acme, the next day: got %+v, want held", r)
	}
}

func testSeed(t *testing.T, s gateway.BudgetStore) {
	for _, n := range []int64{30, 15} {
		if err := s.Seed(context.Background(), tenantDay, n); err != nil {
			t.Fatal(err)
		}
	}
	if got := used(t, s, tenantDay); got != 45 {
		t.Errorf("after seeding 30 and 15: used %d, want 45", got)
	}
	r := hold(t, s, "a", gateway.Hold{Counter: tenantDay, Limit: 50, Amount: 6})
	if want := (gateway.HoldResult{Refused: 0, Used: 45}); r != want {
		t.Errorf("6 more of 50: got %+v, want %+v", r, want)
	}
}

func testConcurrent(t *testing.T, s gateway.BudgetStore) {
	const limit, each = 1000, 100
	var held atomic.Int64
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			id := fmt.Sprint("c", i)
			r, err := s.Hold(context.Background(), id, []gateway.Hold{{Counter: tenantDay, Limit: limit, Amount: each}})
			if err != nil {
				t.Error(err)
				return
			}
			if r.Held {
				held.Add(1)
				if err := s.Settle(context.Background(), id, []gateway.Settlement{{Counter: tenantDay, Held: each, Used: each}}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got := held.Load(); got != limit/each {
		t.Errorf("64 concurrent holds of %d against %d: %d held, want %d", each, limit, got, limit/each)
	}
	if got := used(t, s, tenantDay); got != limit {
		t.Errorf("used %d, want %d", got, limit)
	}
}
