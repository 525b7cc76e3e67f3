package gateway

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Budgets enforces token, spend and speech caps per tenant and per key, per
// UTC day and month. A call reserves its worst case before any provider is called and
// settles its actual usage when it ends, so that concurrent calls can never
// together settle above a cap: a reservation that does not fit beside the
// settled usage and the other open reservations is refused.
//
// Counters live in memory, seeded at start from the usage ledger (Seed); the
// ledger is the durable record.
type Budgets struct {
	mu       sync.Mutex
	counters map[counterKey]*counter
	now      func() time.Time
}

type metric uint8

const (
	metricTokens metric = iota
	metricCostMicros
	metricTTSChars
)

// Amount is what a call uses of each budgeted quantity.
type Amount struct {
	Tokens     int64
	CostMicros int64
	TTSChars   int64 // characters of speech
}

func (a Amount) of(m metric) int64 {
	switch m {
	case metricTokens:
		return a.Tokens
	case metricCostMicros:
		return a.CostMicros
	}
	return a.TTSChars
}

type counterKey struct {
	tenant string
	key    string // "" for the tenant as a whole
	metric metric
	period string // "d2026-11-25" or "m2026-11"
}

type counter struct {
	used     int64 // settled
	reserved int64 // open reservations
}

// cap is one limit that applies to a call.
type budgetCap struct {
	k     counterKey
	limit int64
	name  string // for the error: "tokensPerDay", ...
	scope string // "tenant" or "key"
}

// NewBudgets returns empty budgets; now is the clock (nil: time.Now).
func NewBudgets(now func() time.Time) *Budgets {
	if now == nil {
		now = time.Now
	}
	return &Budgets{counters: make(map[counterKey]*counter), now: now}
}

// Reservation is a hold on budget for one call. Settle it exactly once.
type Reservation struct {
	b    *Budgets
	caps []budgetCap
	held Amount
	once sync.Once
}

// The quantities a kind of call is held against: model calls against the
// token and spend caps, speech against the character caps.
var (
	modelMetrics  = []metric{metricTokens, metricCostMicros}
	speechMetrics = []metric{metricTTSChars}
)

// HasCaps reports whether any budget applies to calls of t with key.
func (b *Budgets) HasCaps(t *tenant.Tenant, key *tenant.Key) bool {
	return len(b.caps(t, key, modelMetrics)) > 0
}

// Reserve holds tokens and costMicros against every token and spend cap of
// t and of key (nil for anonymous callers). It is all or nothing: when one
// cap would be exceeded nothing is held and the error is budget_exceeded,
// naming the cap.
func (b *Budgets) Reserve(t *tenant.Tenant, key *tenant.Key, tokens, costMicros int64) (*Reservation, error) {
	return b.hold(b.caps(t, key, modelMetrics), Amount{Tokens: tokens, CostMicros: costMicros})
}

// ReserveSpeech holds chars characters of speech against the character
// caps (ttsCharsPerDay) of t and of key, all or nothing like Reserve.
func (b *Budgets) ReserveSpeech(t *tenant.Tenant, key *tenant.Key, chars int64) (*Reservation, error) {
	return b.hold(b.caps(t, key, speechMetrics), Amount{TTSChars: chars})
}

// hold reserves amount against caps.
func (b *Budgets) hold(caps []budgetCap, amount Amount) (*Reservation, error) {
	r := &Reservation{b: b, caps: caps, held: amount}
	if len(caps) == 0 {
		return r, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range caps {
		ctr := b.counters[c.k]
		var used, reserved int64
		if ctr != nil {
			used, reserved = ctr.used, ctr.reserved
		}
		if used+reserved+amount.of(c.k.metric) > c.limit {
			return nil, api.Errorf(api.CodeBudgetExceeded, "this call would exceed the %s budget %s (%s used of %s)",
				c.scope, c.name, format(c.k.metric, used+reserved), format(c.k.metric, c.limit)).
				WithDetails(map[string]any{"budget": c.name, "scope": c.scope, "used": used, "reserved": reserved, "limit": c.limit, "requested": amount.of(c.k.metric)})
		}
	}
	for _, c := range caps {
		b.counter(c.k).reserved += amount.of(c.k.metric)
	}
	return r, nil
}

// Settle releases the reservation and records the tokens and cost the call
// actually used. Later calls are no-ops.
func (r *Reservation) Settle(tokens, costMicros int64) {
	r.SettleAmount(Amount{Tokens: tokens, CostMicros: costMicros})
}

// SettleAmount releases the reservation and records what the call actually
// used, of every quantity it was held against. Later calls, and Settle, are
// no-ops.
func (r *Reservation) SettleAmount(used Amount) {
	r.once.Do(func() {
		if len(r.caps) == 0 {
			return
		}
		r.b.mu.Lock()
		defer r.b.mu.Unlock()
		for _, c := range r.caps {
			ctr := r.b.counters[c.k]
			ctr.reserved -= r.held.of(c.k.metric)
			ctr.used += used.of(c.k.metric)
		}
	})
}

// Seed adds usage recorded before this process started (a row of the
// ledger's daily rollup) to the tenant's counters, and to the key's when
// keyID is set, if day falls in the current day or month.
func (b *Budgets) Seed(tenantID, keyID string, day time.Time, used Amount) {
	now, day := b.now().UTC(), day.UTC()
	var periods []string
	if dayPeriod(day) == dayPeriod(now) {
		periods = append(periods, dayPeriod(day))
	}
	if monthPeriod(day) == monthPeriod(now) {
		periods = append(periods, monthPeriod(day))
	}
	scopes := []string{""}
	if keyID != "" {
		scopes = append(scopes, keyID)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range periods {
		for _, scope := range scopes {
			for _, m := range []metric{metricTokens, metricCostMicros, metricTTSChars} {
				b.counter(counterKey{tenantID, scope, m, p}).used += used.of(m)
			}
		}
	}
}

// counter returns the counter of k, creating it. b.mu must be held.
func (b *Budgets) counter(k counterKey) *counter {
	c := b.counters[k]
	if c == nil {
		c = &counter{}
		b.counters[k] = c
	}
	return c
}

// Used returns the settled usage of tenant (key "" for the whole tenant) in
// the current day, for tests and GET /usage.
func (b *Budgets) Used(tenantID, keyID string) (tokens, costMicros int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := dayPeriod(b.now().UTC())
	if c := b.counters[counterKey{tenantID, keyID, metricTokens, d}]; c != nil {
		tokens = c.used
	}
	if c := b.counters[counterKey{tenantID, keyID, metricCostMicros, d}]; c != nil {
		costMicros = c.used
	}
	return tokens, costMicros
}

// UsedSpeech returns the characters of speech settled for tenant (key ""
// for the whole tenant) in the current day.
func (b *Budgets) UsedSpeech(tenantID, keyID string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.counters[counterKey{tenantID, keyID, metricTTSChars, dayPeriod(b.now().UTC())}]; c != nil {
		return c.used
	}
	return 0
}

// Prune drops the counters of past periods.
func (b *Budgets) Prune() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now().UTC()
	d, m := dayPeriod(now), monthPeriod(now)
	for k := range b.counters {
		if k.period != d && k.period != m {
			delete(b.counters, k)
		}
	}
}

// caps lists the limits on metrics that apply to a call by key of tenant t.
func (b *Budgets) caps(t *tenant.Tenant, key *tenant.Key, metrics []metric) []budgetCap {
	now := b.now().UTC()
	d, m := dayPeriod(now), monthPeriod(now)
	var caps []budgetCap
	add := func(scope, keyID string, bud tenant.Budget) {
		for _, c := range []struct {
			limit  int64
			name   string
			metric metric
			period string
		}{
			{bud.TokensPerDay, "tokensPerDay", metricTokens, d},
			{bud.TokensPerMonth, "tokensPerMonth", metricTokens, m},
			{usdToMicros(bud.USDPerDay), "usdPerDay", metricCostMicros, d},
			{usdToMicros(bud.USDPerMonth), "usdPerMonth", metricCostMicros, m},
			{bud.TTSCharsPerDay, "ttsCharsPerDay", metricTTSChars, d},
		} {
			if c.limit > 0 && slices.Contains(metrics, c.metric) {
				caps = append(caps, budgetCap{k: counterKey{t.ID.String(), keyID, c.metric, c.period}, limit: c.limit, name: c.name, scope: scope})
			}
		}
	}
	add("tenant", "", t.Config.Limits.Budget)
	if key != nil {
		add("key", key.ID, key.Budget)
	}
	return caps
}

func dayPeriod(t time.Time) string   { return "d" + t.Format("2006-01-02") }
func monthPeriod(t time.Time) string { return "m" + t.Format("2006-01") }

func usdToMicros(usd float64) int64 { return int64(usd*1e6 + 0.5) }

func format(m metric, v int64) string {
	switch m {
	case metricTokens:
		return fmt.Sprintf("%d tokens", v)
	case metricTTSChars:
		return fmt.Sprintf("%d characters", v)
	}
	return fmt.Sprintf("$%.6f", float64(v)/1e6)
}
