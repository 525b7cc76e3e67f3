package gateway

import (
	"context"
	"sync"
)

// Counter names one budget counter: one metric of a tenant, or of one of its
// keys, in one day or month.
type Counter struct {
	// Tenant is the tenant's ID.
	Tenant string
	// Key is the API key's ID, or "" for the tenant as a whole.
	Key string
	// Metric is the quantity counted.
	Metric Metric
	// Period is the day ("d2026-11-25") or month ("m2026-11"), UTC.
	Period string
}

// Hold is one cap a reservation is held against.
type Hold struct {
	Counter Counter
	// Limit is the cap: the counter's settled usage and open reservations
	// together may not exceed it.
	Limit int64
	// Amount is what the reservation holds of the counter.
	Amount int64
}

// HoldResult is a BudgetStore's answer to a Hold.
type HoldResult struct {
	// Held reports whether the reservation was made.
	Held bool
	// Refused is, when Held is false, the index of a hold that did not fit;
	// Used and Reserved are its counter's settled usage and open
	// reservations at that moment.
	Refused        int
	Used, Reserved int64
}

// Settlement ends a reservation on one counter: Held is released and Used
// is added to the counter's settled usage.
type Settlement struct {
	Counter    Counter
	Held, Used int64
}

// BudgetStore keeps the counters of Budgets: for each counter its settled
// usage and its open reservations. [NewMemoryBudgets] is the default, for one
// process; a store shared by replicas (Redis) makes every cap hold across
// all of them.
//
// Hold reserves every hold's Amount under the reservation id if, for each
// one, settled usage + open reservations + Amount <= Limit; otherwise it
// reserves nothing and reports a hold that did not fit. The check and the
// update are one atomic step across every caller of the store. A shared
// store should let a reservation lapse when the process that made it stops
// renewing it (it died), so that a dead replica's holds do not block a
// budget for ever.
//
// Settle releases reservation id and adds each settlement's Used to its
// counter; a reservation that has lapsed is only added. Seed adds usage
// recorded elsewhere (the ledger) to a counter; a shared store adds it once
// for all replicas. Used returns a counter's settled usage.
//
// An error means the store could not answer; Budgets then refuses the call
// (fail closed).
type BudgetStore interface {
	Hold(ctx context.Context, id string, holds []Hold) (HoldResult, error)
	Settle(ctx context.Context, id string, ss []Settlement) error
	Seed(ctx context.Context, c Counter, n int64) error
	Used(ctx context.Context, c Counter) (int64, error)
}

// MemoryBudgets is a BudgetStore in process memory, the default.
type MemoryBudgets struct {
	mu       sync.Mutex
	counters map[Counter]*counter
}

var _ BudgetStore = (*MemoryBudgets)(nil)

type counter struct {
	used     int64 // settled
	reserved int64 // open reservations
}

// NewMemoryBudgets returns an empty MemoryBudgets.
func NewMemoryBudgets() *MemoryBudgets {
	return &MemoryBudgets{counters: make(map[Counter]*counter)}
}

// Hold implements BudgetStore.
func (m *MemoryBudgets) Hold(ctx context.Context, _ string, holds []Hold) (HoldResult, error) {
	if err := ctx.Err(); err != nil {
		return HoldResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, h := range holds {
		var used, reserved int64
		if c := m.counters[h.Counter]; c != nil {
			used, reserved = c.used, c.reserved
		}
		if used+reserved+h.Amount > h.Limit {
			return HoldResult{Refused: i, Used: used, Reserved: reserved}, nil
		}
	}
	for _, h := range holds {
		m.counter(h.Counter).reserved += h.Amount
	}
	return HoldResult{Held: true}, nil
}

// Settle implements BudgetStore.
func (m *MemoryBudgets) Settle(_ context.Context, _ string, ss []Settlement) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range ss {
		c := m.counter(s.Counter)
		c.reserved -= s.Held
		c.used += s.Used
	}
	return nil
}

// Seed implements BudgetStore.
func (m *MemoryBudgets) Seed(_ context.Context, c Counter, n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counter(c).used += n
	return nil
}

// Used implements BudgetStore.
func (m *MemoryBudgets) Used(_ context.Context, c Counter) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ctr := m.counters[c]; ctr != nil {
		return ctr.used, nil
	}
	return 0, nil
}

// Prune drops the counters for which keep returns false.
func (m *MemoryBudgets) Prune(keep func(Counter) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for c := range m.counters {
		if !keep(c) {
			delete(m.counters, c)
		}
	}
}

// counter returns the counter of c, creating it. m.mu must be held.
func (m *MemoryBudgets) counter(c Counter) *counter {
	ctr := m.counters[c]
	if ctr == nil {
		ctr = &counter{}
		m.counters[c] = ctr
	}
	return ctr
}
