package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// newUsageServer returns a server whose usage ledger is a SQLite database
// holding recs.
func newUsageServer(t *testing.T, recs ...store.UsageRecord) *testServer {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "crispy.db"), sqlite.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Usage().AppendUsage(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	reg := registry(t)
	return &testServer{Server: New(Options{
		Registry: func() *tenant.Registry { return reg },
		Usage:    db.Usage(),
		Logger:   slog.New(slog.DiscardHandler),
		Metrics:  obs.NewMetrics(),
	})}
}

// usageLedger is a ledger of acme's over two UTC days, two keys and two
// models, with latencies and times to first token known, and records that
// the reports of acme from 2026-03-01 to 2026-03-02 must leave out: one of
// globex's and one of acme's from the day before.
func usageLedger() []store.UsageRecord {
	acme, globex := tenant.MustID("acme"), tenant.MustID("globex")
	day1 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	day2 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	rec := func(id tenant.ID, at time.Time, key, provider, model string, latency, ttft time.Duration) store.UsageRecord {
		return store.UsageRecord{Time: at, Tenant: id, KeyID: key, Route: "chat", Provider: provider, Model: model,
			Attempts: 1, Status: "ok", Latency: latency, TTFT: ttft, TokensIn: 1, TokensOut: 1}
	}
	failed := rec(acme, day1, "key-a", "openai", "gpt-a", 300*time.Millisecond, 0) // no first token
	failed.Status, failed.ErrorKind = "error", "timeout"
	return []store.UsageRecord{
		rec(acme, day1, "key-a", "openai", "gpt-a", 100*time.Millisecond, 40*time.Millisecond),
		failed,
		rec(acme, day1, "key-a", "mock", "gpt-b", time.Second, 250*time.Millisecond),
		rec(acme, day2, "key-b", "openai", "gpt-a", time.Millisecond, time.Millisecond),
		rec(acme, day2, "key-b", "openai", "gpt-a", time.Millisecond, 0),
		rec(acme, day2, "key-a", "openai", "gpt-a", 2*time.Millisecond, 2*time.Millisecond),
		rec(globex, day1, "key-a", "openai", "gpt-a", time.Hour, time.Hour),
		rec(acme, day1.AddDate(0, 0, -1), "key-a", "openai", "gpt-a", time.Hour, time.Hour),
	}
}

// latency is the part of api.UsageTotals these tests check.
type latency struct {
	Day, Model        string
	Requests          int64
	LatencyMs, TTFTMs float64
}

func latencies(ts []api.UsageTotals) []latency {
	out := []latency{}
	for _, t := range ts {
		out = append(out, latency{t.Day, t.Model, t.Requests, t.LatencyMs, t.TTFTMs})
	}
	return out
}

// TestUsageLatency checks the mean latency and time to first token of GET
// /usage in total, by day and by model: each is the sum of the latencies
// over the requests summed, and the sum of the times to first token over
// the requests that had one, in milliseconds to the microsecond.
func TestUsageLatency(t *testing.T) {
	ts := newUsageServer(t, usageLedger()...)
	tests := []struct {
		name    string
		query   string
		total   latency
		byDay   []latency
		byModel []latency
	}{
		{
			name:  "every key",
			query: "from=2026-03-01&to=2026-03-02",
			// (100 + 300 + 1000 + 1 + 1 + 2) ms / 6; (40 + 250 + 1 + 2) ms / 4.
			total: latency{Requests: 6, LatencyMs: 234, TTFTMs: 73.25},
			byDay: []latency{
				{Day: "2026-03-01", Requests: 3, LatencyMs: 466.667, TTFTMs: 145}, // 1400/3 rounded to the µs
				{Day: "2026-03-02", Requests: 3, LatencyMs: 1.333, TTFTMs: 1.5},
			},
			byModel: []latency{
				{Model: "mock/gpt-b", Requests: 1, LatencyMs: 1000, TTFTMs: 250},
				{Model: "openai/gpt-a", Requests: 5, LatencyMs: 80.8, TTFTMs: 14.333},
			},
		},
		{
			name:    "one key",
			query:   "from=2026-03-01&to=2026-03-02&key=key-b",
			total:   latency{Requests: 2, LatencyMs: 1, TTFTMs: 1},
			byDay:   []latency{{Day: "2026-03-02", Requests: 2, LatencyMs: 1, TTFTMs: 1}},
			byModel: []latency{{Model: "openai/gpt-a", Requests: 2, LatencyMs: 1, TTFTMs: 1}},
		},
		{
			name:    "no usage",
			query:   "from=2026-03-01&to=2026-03-02&key=key-c",
			total:   latency{},
			byDay:   []latency{},
			byModel: []latency{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, "GET", "/usage?"+tt.query, "", "Authorization", "Bearer ck_dev_acme")
			if res.status != http.StatusOK {
				t.Fatalf("GET /usage?%s = %d %s", tt.query, res.status, res.raw)
			}
			var rep api.UsageReport
			if err := json.Unmarshal(res.env.Data, &rep); err != nil {
				t.Fatal(err)
			}
			if got := latencies([]api.UsageTotals{rep.Totals})[0]; got != tt.total {
				t.Errorf("totals = %+v, want %+v", got, tt.total)
			}
			if got := latencies(rep.ByDay); !slices.Equal(got, tt.byDay) {
				t.Errorf("byDay = %+v, want %+v", got, tt.byDay)
			}
			if got := latencies(rep.ByModel); !slices.Equal(got, tt.byModel) {
				t.Errorf("byModel = %+v, want %+v", got, tt.byModel)
			}
		})
	}
}

// TestUsageLatencyJSON checks the names of the fields in the report.
func TestUsageLatencyJSON(t *testing.T) {
	ts := newUsageServer(t, usageLedger()...)
	res := ts.do(t, "GET", "/usage?from=2026-03-02&to=2026-03-02&key=key-b", "", "Authorization", "Bearer ck_dev_acme")
	var data struct {
		Totals map[string]any `json:"totals"`
	}
	if err := json.Unmarshal(res.env.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.Totals["latencyMs"] != 1.0 || data.Totals["ttftMs"] != 1.0 {
		t.Errorf("totals = %v, want latencyMs and ttftMs of 1", data.Totals)
	}
}

// TestUsageReport builds the report of a tenant named by the caller of
// usageReport rather than by the request, and checks that it validates its
// query as GET /usage does.
func TestUsageReport(t *testing.T) {
	ts := newUsageServer(t, usageLedger()...)
	q := url.Values{"from": {"2026-03-01"}, "to": {"2026-03-02"}}
	rep, err := ts.usageReport(t.Context(), tenant.MustID("globex"), q)
	if err != nil {
		t.Fatal(err)
	}
	want := latency{Requests: 1, LatencyMs: 3_600_000, TTFTMs: 3_600_000}
	if got := latencies([]api.UsageTotals{rep.Totals})[0]; got != want || rep.From != "2026-03-01" || rep.To != "2026-03-02" {
		t.Errorf("report of globex = %s to %s, totals %+v; want 2026-03-01 to 2026-03-02, totals %+v", rep.From, rep.To, got, want)
	}

	for _, q := range []string{"from=yesterday", "to=2026-13-01", "from=2026-02-01&to=2026-01-01", "colour=red", "from=2020-01-01&to=2026-01-01"} {
		values, err := url.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ts.usageReport(t.Context(), tenant.MustID("acme"), values)
		if e, ok := errors.AsType[*api.Error](err); !ok || e.Code != api.CodeInvalidRequest {
			t.Errorf("usageReport(%s) = %v, want %s", q, err, api.CodeInvalidRequest)
		}
	}

	off := &Server{opts: Options{}}
	_, err = off.usageReport(t.Context(), tenant.MustID("acme"), url.Values{})
	if e, ok := errors.AsType[*api.Error](err); !ok || e.Code != api.CodeUnavailable {
		t.Errorf("usageReport without a ledger = %v, want %s", err, api.CodeUnavailable)
	}
}

func TestMeanMillis(t *testing.T) {
	tests := []struct {
		micros, n int64
		want      float64
	}{
		{0, 0, 0},
		{1000, 0, 0},
		{0, 3, 0},
		{1500, 1, 1.5},
		{1, 3, 0},     // a third of a microsecond rounds to 0
		{2, 3, 0.001}, // two thirds round to 1 µs
		{4000, 3, 1.333},
		{3_600_000_000, 1, 3_600_000},
	}
	for _, tt := range tests {
		if got := meanMillis(tt.micros, tt.n); got != tt.want {
			t.Errorf("meanMillis(%d, %d) = %v, want %v", tt.micros, tt.n, got, tt.want)
		}
	}
}
