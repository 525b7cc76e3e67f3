package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Budgets enforces token, spend and speech caps per tenant and per key, per
// UTC day and month. A call reserves its worst case before any provider is called and
// settles its actual usage when it ends, so that concurrent calls can never
// together settle above a cap: a reservation that does not fit beside the
// settled usage and the other open reservations is refused.
//
// Counters live in a BudgetStore: by default in memory, seeded at start from
// the usage ledger (Seed), which is the durable record; replicas that must
// share caps use a shared store (Redis).
type Budgets struct {
	store BudgetStore
	now   func() time.Time
	// rejections counts refused reservations; nil until Instrument.
	rejections *prometheus.CounterVec
}

// Metric is a budgeted quantity.
type Metric uint8

// The budgeted quantities.
const (
	MetricTokens Metric = iota
	MetricCostMicros
	MetricTTSChars
)

// String returns the metric's name: "tokens", "costMicros" or "ttsChars".
func (m Metric) String() string {
	switch m {
	case MetricTokens:
		return "tokens"
	case MetricCostMicros:
		return "costMicros"
	}
	return "ttsChars"
}

// Amount is what a call uses of each budgeted quantity.
type Amount struct {
	Tokens     int64
	CostMicros int64
	TTSChars   int64 // characters of speech
}

func (a Amount) of(m Metric) int64 {
	switch m {
	case MetricTokens:
		return a.Tokens
	case MetricCostMicros:
		return a.CostMicros
	}
	return a.TTSChars
}

// cap is one limit that applies to a call.
type budgetCap struct {
	k     Counter
	limit int64
	name  string // for the error: "tokensPerDay", ...
	scope string // "tenant" or "key"
}

// NewBudgets returns empty budgets in memory; now is the clock (nil:
// time.Now).
func NewBudgets(now func() time.Time) *Budgets {
	return NewBudgetsWithStore(NewMemoryBudgets(), now)
}

// NewBudgetsWithStore returns budgets whose counters live in s; now is the
// clock (nil: time.Now), which picks the day and month a call counts in.
func NewBudgetsWithStore(s BudgetStore, now func() time.Time) *Budgets {
	if now == nil {
		now = time.Now
	}
	return &Budgets{store: s, now: now}
}

// Reservation is a hold on budget for one call. Settle it exactly once.
type Reservation struct {
	b    *Budgets
	id   string
	caps []budgetCap
	held Amount
	once sync.Once
}

// The quantities a kind of call is held against: model calls against the
// token and spend caps, speech against the character caps.
var (
	modelMetrics  = []Metric{MetricTokens, MetricCostMicros}
	speechMetrics = []Metric{MetricTTSChars}
)

// HasCaps reports whether any budget applies to calls of t with key.
func (b *Budgets) HasCaps(t *tenant.Tenant, key *tenant.Key) bool {
	return len(b.caps(t, key, modelMetrics)) > 0
}

// Reserve is ReserveContext with context.Background.
func (b *Budgets) Reserve(t *tenant.Tenant, key *tenant.Key, tokens, costMicros int64) (*Reservation, error) {
	return b.ReserveContext(context.Background(), t, key, tokens, costMicros)
}

// ReserveContext holds tokens and costMicros against every token and spend
// cap of t and of key (nil for anonymous callers). It is all or nothing:
// when one cap would be exceeded nothing is held and the error is
// budget_exceeded (402), naming the cap. When the store cannot answer (a
// shared store that is unreachable) nothing is held either and the error is
// unavailable (503): budgets fail closed.
func (b *Budgets) ReserveContext(ctx context.Context, t *tenant.Tenant, key *tenant.Key, tokens, costMicros int64) (*Reservation, error) {
	return b.hold(ctx, b.caps(t, key, modelMetrics), Amount{Tokens: tokens, CostMicros: costMicros})
}

// ReserveSpeech is ReserveSpeechContext with context.Background.
func (b *Budgets) ReserveSpeech(t *tenant.Tenant, key *tenant.Key, chars int64) (*Reservation, error) {
	return b.ReserveSpeechContext(context.Background(), t, key, chars)
}

// ReserveSpeechContext holds chars characters of speech against the
// character caps (ttsCharsPerDay) of t and of key, all or nothing like
// ReserveContext.
func (b *Budgets) ReserveSpeechContext(ctx context.Context, t *tenant.Tenant, key *tenant.Key, chars int64) (*Reservation, error) {
	return b.hold(ctx, b.caps(t, key, speechMetrics), Amount{TTSChars: chars})
}

// storeTimeout bounds the store calls that have no caller's context:
// settling, seeding and reading usage.
const storeTimeout = 5 * time.Second

// hold reserves amount against caps.
func (b *Budgets) hold(ctx context.Context, caps []budgetCap, amount Amount) (*Reservation, error) {
	r := &Reservation{b: b, caps: caps, held: amount}
	if len(caps) == 0 {
		return r, nil
	}
	r.id = newReservationID()
	holds := make([]Hold, len(caps))
	for i, c := range caps {
		holds[i] = Hold{Counter: c.k, Limit: c.limit, Amount: amount.of(c.k.Metric)}
	}
	res, err := b.store.Hold(ctx, r.id, holds)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		b.reject(caps[0].k.Tenant, "store", "unavailable")
		return nil, api.Errorf(api.CodeUnavailable, "budgets cannot be checked right now, so the call was not made; retry shortly").
			WithDetails(map[string]any{"budget": "unavailable", "retryAfter": 1})
	}
	if !res.Held {
		c := caps[res.Refused]
		b.reject(c.k.Tenant, c.scope, c.name)
		used, reserved := res.Used, res.Reserved
		return nil, api.Errorf(api.CodeBudgetExceeded, "this call would exceed the %s budget %s (%s used of %s)",
			c.scope, c.name, format(c.k.Metric, used+reserved), format(c.k.Metric, c.limit)).
			WithDetails(map[string]any{"budget": c.name, "scope": c.scope, "used": used, "reserved": reserved, "limit": c.limit, "requested": amount.of(c.k.Metric)})
	}
	return r, nil
}

// newReservationID returns a random ID that names a reservation in a
// shared store.
func newReservationID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
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
		ss := make([]Settlement, len(r.caps))
		for i, c := range r.caps {
			ss[i] = Settlement{Counter: c.k, Held: r.held.of(c.k.Metric), Used: used.of(c.k.Metric)}
		}
		// The call's context may be gone (a client that left): settling
		// must happen anyway. A store that fails logs it; its hold then
		// lapses on its own (see BudgetStore).
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		_ = r.b.store.Settle(ctx, r.id, ss)
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
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	for _, p := range periods {
		for _, scope := range scopes {
			for _, m := range []Metric{MetricTokens, MetricCostMicros, MetricTTSChars} {
				if n := used.of(m); n != 0 {
					_ = b.store.Seed(ctx, Counter{tenantID, scope, m, p}, n)
				}
			}
		}
	}
}

// used returns the settled usage of c, or 0 when the store cannot say.
func (b *Budgets) used(c Counter) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	n, err := b.store.Used(ctx, c)
	if err != nil {
		return 0
	}
	return n
}

// Used returns the settled usage of tenant (key "" for the whole tenant) in
// the current day, for tests and GET /usage.
func (b *Budgets) Used(tenantID, keyID string) (tokens, costMicros int64) {
	d := dayPeriod(b.now().UTC())
	return b.used(Counter{tenantID, keyID, MetricTokens, d}), b.used(Counter{tenantID, keyID, MetricCostMicros, d})
}

// UsedSpeech returns the characters of speech settled for tenant (key ""
// for the whole tenant) in the current day.
func (b *Budgets) UsedSpeech(tenantID, keyID string) int64 {
	return b.used(Counter{tenantID, keyID, MetricTTSChars, dayPeriod(b.now().UTC())})
}

// Prune drops the counters of past periods from a store that keeps them
// until told (the memory store); a shared store expires them itself.
func (b *Budgets) Prune() {
	if p, ok := b.store.(interface{ Prune(keep func(Counter) bool) }); ok {
		now := b.now().UTC()
		d, m := dayPeriod(now), monthPeriod(now)
		p.Prune(func(c Counter) bool { return c.Period == d || c.Period == m })
	}
}

// caps lists the limits on metrics that apply to a call by key of tenant t.
func (b *Budgets) caps(t *tenant.Tenant, key *tenant.Key, metrics []Metric) []budgetCap {
	now := b.now().UTC()
	d, m := dayPeriod(now), monthPeriod(now)
	var caps []budgetCap
	add := func(scope, keyID string, bud tenant.Budget) {
		for _, c := range []struct {
			limit  int64
			name   string
			metric Metric
			period string
		}{
			{bud.TokensPerDay, "tokensPerDay", MetricTokens, d},
			{bud.TokensPerMonth, "tokensPerMonth", MetricTokens, m},
			{usdToMicros(bud.USDPerDay), "usdPerDay", MetricCostMicros, d},
			{usdToMicros(bud.USDPerMonth), "usdPerMonth", MetricCostMicros, m},
			{bud.TTSCharsPerDay, "ttsCharsPerDay", MetricTTSChars, d},
		} {
			if c.limit > 0 && slices.Contains(metrics, c.metric) {
				caps = append(caps, budgetCap{k: Counter{t.ID.String(), keyID, c.metric, c.period}, limit: c.limit, name: c.name, scope: scope})
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

func format(m Metric, v int64) string {
	switch m {
	case MetricTokens:
		return fmt.Sprintf("%d tokens", v)
	case MetricTTSChars:
		return fmt.Sprintf("%d characters", v)
	}
	return fmt.Sprintf("$%.6f", float64(v)/1e6)
}

// BudgetState is one budget of a tenant or key and what its period has
// used so far (settled calls; reservations of calls in flight excluded).
type BudgetState struct {
	Name   string // tokensPerDay, usdPerMonth, ...
	Scope  string // "tenant" or "key"
	KeyID  string // the key, for scope "key"
	Metric Metric
	Limit  int64 // tokens, characters or millionths of a US dollar
	Used   int64
}

// States returns every budget that applies to calls by key (nil: the
// tenant's alone) of tenant t, with its use in the current period.
func (b *Budgets) States(t *tenant.Tenant, key *tenant.Key) []BudgetState {
	caps := b.caps(t, key, []Metric{MetricTokens, MetricCostMicros, MetricTTSChars})
	out := make([]BudgetState, len(caps))
	for i, c := range caps {
		out[i] = BudgetState{Name: c.name, Scope: c.scope, KeyID: c.k.Key, Metric: c.k.Metric, Limit: c.limit, Used: b.used(c.k)}
	}
	return out
}
