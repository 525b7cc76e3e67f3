package gateway

import (
	"context"
	"sync"

	"github.com/crispy-enigma/crispy/internal/store"
)

// Tally sums the model calls made on behalf of one request, for its access
// log line: the HTTP layer puts one in the request's context (WithTally),
// and every usage record written while serving the request (gateway calls
// and speech) adds to it. It is safe for concurrent use; a nil *Tally
// ignores what is added.
type Tally struct {
	mu sync.Mutex
	t  Totals
}

// Totals is what a Tally holds.
type Totals struct {
	Calls      int    // model calls, cache hits included
	Model      string // provider/model of the last call
	TokensIn   int64
	TokensOut  int64
	CostMicros int64 // micro-dollars
	TTSChars   int64
	Estimated  bool // some token figure was counted by the tokenizer, not reported
	CacheHits  int  // calls answered from a cache
}

type tallyKey struct{}

// WithTally returns ctx carrying t.
func WithTally(ctx context.Context, t *Tally) context.Context {
	return context.WithValue(ctx, tallyKey{}, t)
}

// TallyFrom returns the Tally ctx carries, or nil.
func TallyFrom(ctx context.Context) *Tally {
	if ctx == nil {
		return nil
	}
	t, _ := ctx.Value(tallyKey{}).(*Tally)
	return t
}

// Add counts one usage record.
func (t *Tally) Add(rec store.UsageRecord) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.t.Calls++
	if rec.Model != "" {
		t.t.Model = rec.Provider + "/" + rec.Model
	}
	t.t.TokensIn += rec.TokensIn
	t.t.TokensOut += rec.TokensOut
	t.t.CostMicros += rec.CostMicros
	t.t.TTSChars += rec.TTSChars
	t.t.Estimated = t.t.Estimated || rec.Estimated
	if rec.CacheHit {
		t.t.CacheHits++
	}
}

// Totals returns what was added so far; the zero Totals for a nil Tally.
func (t *Tally) Totals() Totals {
	if t == nil {
		return Totals{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t
}
