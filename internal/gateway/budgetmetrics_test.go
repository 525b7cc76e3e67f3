package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// budgetTenant is acme with every tenant-wide cap but the monthly ones,
// and a key with a token cap of its own.
func budgetTenant(t *testing.T) (*tenant.Tenant, *tenant.Key) {
	t.Helper()
	c := &tenant.Config{ID: "acme", Name: "Acme", Keys: []tenant.Key{{ID: "k1", Hash: tenant.HashKey(tenant.NewKey()), Scopes: []tenant.Scope{tenant.ScopeChat}, Budget: tenant.Budget{TokensPerDay: 500}}}}
	c.Limits.Budget = tenant.Budget{TokensPerDay: 1000, USDPerDay: 2.5, TTSCharsPerDay: 300}
	reg, err := tenant.NewRegistry([]*tenant.Config{c}, tenant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tn, _ := reg.Tenant("acme")
	return tn, &tn.Config.Keys[0]
}

// gathered returns every sample reg gathers, as "name{l1="v1",...}" (labels
// in name order, as the registry sorts them) to its value.
func gathered(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			k := mf.GetName() + "{" + strings.Join(ls, ",") + "}"
			switch {
			case m.Gauge != nil:
				out[k] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[k] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				out[k] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// only returns the samples of got whose name starts with prefix.
func only(got map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range got {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

func TestBudgetMetrics(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	b := NewBudgets(func() time.Time { return now })
	tn, key := budgetTenant(t)
	reg := prometheus.NewRegistry()
	if err := b.Instrument(reg, func() []*tenant.Tenant { return []*tenant.Tenant{tn} }); err != nil {
		t.Fatal(err)
	}

	r, err := b.Reserve(tn, key, 100, 400_000)
	if err != nil {
		t.Fatal(err)
	}
	r.Settle(80, 250_000) // 80 tokens, $0.25
	rs, err := b.ReserveSpeech(tn, key, 50)
	if err != nil {
		t.Fatal(err)
	}
	rs.SettleAmount(Amount{TTSChars: 50})
	// The key's cap refuses 450 more tokens; the tenant's would not.
	if _, err := b.Reserve(tn, key, 450, 0); err == nil {
		t.Fatal("450 tokens over the key's 500 were held")
	}
	// The tenant's speech cap refuses 300 characters.
	if _, err := b.ReserveSpeech(tn, nil, 300); err == nil {
		t.Fatal("300 characters over the tenant's 300 were held")
	}

	want := map[string]float64{
		`crispy_budget_limit{budget="tokensPerDay",tenant="acme"}`:                             1000,
		`crispy_budget_limit{budget="ttsCharsPerDay",tenant="acme"}`:                           300,
		`crispy_budget_limit{budget="usdPerDay",tenant="acme"}`:                                2.5,
		`crispy_budget_remaining{budget="tokensPerDay",tenant="acme"}`:                         920,
		`crispy_budget_remaining{budget="ttsCharsPerDay",tenant="acme"}`:                       250,
		`crispy_budget_remaining{budget="usdPerDay",tenant="acme"}`:                            2.25,
		`crispy_budget_rejections_total{budget="tokensPerDay",scope="key",tenant="acme"}`:      1,
		`crispy_budget_rejections_total{budget="ttsCharsPerDay",scope="tenant",tenant="acme"}`: 1,
	}
	if got := gathered(t, reg); !maps.Equal(got, want) {
		t.Errorf("gathered %v\nwant %v", got, want)
	}

	// Past the cap the remainder is 0, not negative (usage seeded from
	// the ledger may exceed a cap lowered since).
	b.Seed("acme", "", now, Amount{Tokens: 5000})
	if got := gathered(t, reg)[`crispy_budget_remaining{budget="tokensPerDay",tenant="acme"}`]; got != 0 {
		t.Errorf("remaining tokens = %v past the cap, want 0", got)
	}
}

// downStore is a budget store that cannot answer.
type downStore struct{}

var errDown = errors.New("store down")

func (downStore) Hold(context.Context, string, []Hold) (HoldResult, error) {
	return HoldResult{}, errDown
}
func (downStore) Settle(context.Context, string, []Settlement) error { return errDown }
func (downStore) Seed(context.Context, Counter, int64) error         { return errDown }
func (downStore) Used(context.Context, Counter) (int64, error)       { return 0, errDown }

// TestBudgetMetricsStoreDown: a store that cannot answer counts a
// rejection as unavailable, and the remainders, unknown, are left out
// while the limits stay.
func TestBudgetMetricsStoreDown(t *testing.T) {
	b := NewBudgetsWithStore(downStore{}, nil)
	tn, key := budgetTenant(t)
	reg := prometheus.NewRegistry()
	if err := b.Instrument(reg, func() []*tenant.Tenant { return []*tenant.Tenant{tn} }); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve(tn, key, 10, 0); err == nil {
		t.Fatal("held with the store down")
	}
	got := gathered(t, reg)
	if n := len(only(got, "crispy_budget_remaining")); n != 0 {
		t.Errorf("%d remainders gathered with the store down, want none", n)
	}
	if n := len(only(got, "crispy_budget_limit")); n != 3 {
		t.Errorf("%d limits gathered, want 3", n)
	}
	want := map[string]float64{`crispy_budget_rejections_total{budget="unavailable",scope="store",tenant="acme"}`: 1}
	if r := only(got, "crispy_budget_rejections_total"); !maps.Equal(r, want) {
		t.Errorf("rejections %v, want %v", r, want)
	}
}

// TestTokenAndCostMetrics: a call counts its tokens and its cost, from the
// tenant's pricing table, by tenant, provider and model.
func TestTokenAndCostMetrics(t *testing.T) {
	cfg := `{"id":"acme","name":"Acme","keys":[{"id":"k","hash":"sha256:0000000000000000000000000000000000000000000000000000000000000001","scopes":["chat"]}],
		"providers":{"a":{"type":"openai","baseUrl":"http://a"}},
		"models":{"chat":{"model":"a/m1"},"pricing":{"a/m1":{"inputPerMTok":1000,"outputPerMTok":2000}}}}`
	a := &fake{name: "a", steps: []step{{words: []string{"w"}, usage: &provider.Usage{PromptTokens: 20, CompletionTokens: 50}}}}
	h := newHarness(t, cfg, a)
	reg := prometheus.NewRegistry()
	h.gw.opts.Metrics = NewMetrics(reg)
	for range 2 {
		st, err := h.chat("")
		if err != nil {
			t.Fatal(err)
		}
		collect(t, st)
		st.Close()
	}
	got := gathered(t, reg)
	for k, want := range map[string]float64{
		`crispy_gateway_tokens_total{direction="in",model="m1",provider="a",tenant="acme"}`:  40,
		`crispy_gateway_tokens_total{direction="out",model="m1",provider="a",tenant="acme"}`: 100,
		// 20 in at $1,000 and 50 out at $2,000 a million, twice.
		`crispy_gateway_cost_usd_total{model="m1",provider="a",tenant="acme"}`:                       2 * (0.02 + 0.1),
		`crispy_gateway_calls_total{model="m1",provider="a",route="chat",status="ok",tenant="acme"}`: 2,
		`crispy_gateway_ttft_seconds{model="m1",provider="a",tenant="acme"}`:                         2,
	} {
		if v, ok := got[k]; !ok || math.Abs(v-want) > 1e-9 {
			t.Errorf("%s = %v (%v), want %v", k, v, ok, want)
		}
	}
}
