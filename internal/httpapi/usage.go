package httpapi

import (
	"context"
	"errors"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// maxUsageDays bounds the range of one GET /usage.
const maxUsageDays = 366

// usage answers GET /usage?from=YYYY-MM-DD&to=YYYY-MM-DD&key=ID with the
// usage report of the caller's tenant (see usageReport).
func (s *Server) usage(w http.ResponseWriter, r *http.Request) error {
	c := Caller(r)
	rep, err := s.usageReport(r.Context(), c.Tenant.ID, r.URL.Query())
	if err != nil {
		return err
	}
	key := c.Key
	if id := r.URL.Query().Get("key"); id != "" {
		key = tenantKey(c.Tenant, id)
	}
	rep.Budgets = s.budgetUse(c.Tenant, key)
	return writeData(w, r, http.StatusOK, rep)
}

// tenantKey returns the key of t with ID id, or nil.
func tenantKey(t *tenant.Tenant, id string) *tenant.Key {
	for i := range t.Config.Keys {
		if t.Config.Keys[i].ID == id {
			return &t.Config.Keys[i]
		}
	}
	return nil
}

// budgetUse reports the budgets of tenant t and of key (nil: none) with
// their use in the current period.
func (s *Server) budgetUse(t *tenant.Tenant, key *tenant.Key) []api.BudgetUse {
	out := []api.BudgetUse{}
	if s.opts.Gateway == nil {
		return out
	}
	for _, b := range s.opts.Gateway.Budgets().States(t, key) {
		u := api.BudgetUse{Name: b.Name, Scope: b.Scope, KeyID: b.KeyID, Limit: float64(b.Limit), Used: float64(b.Used)}
		if b.Metric == gateway.MetricCostMicros {
			u.Limit, u.Used = u.Limit/1e6, u.Used/1e6
		}
		out = append(out, u)
	}
	return out
}

// usageReport returns the usage of tenant t by day and by model, from the
// ledger's daily rollup, over the range of UTC days that q gives as
// from=YYYY-MM-DD&to=YYYY-MM-DD, inclusive, by default the last 30 days, and
// for the key q names as key=ID, by default every key. A query with another
// parameter, a day that does not parse, or a range that is reversed or
// longer than maxUsageDays is an invalid request. Means of latency are
// computed from the rollup's sums, so they are exact over any set of rows.
func (s *Server) usageReport(ctx context.Context, t tenant.ID, q url.Values) (*api.UsageReport, error) {
	if s.opts.Usage == nil {
		return nil, api.Errorf(api.CodeUnavailable, "usage is not recorded on this server")
	}
	if err := checkQuery(q, "from", "to", "key"); err != nil {
		return nil, err
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	to, err := day(q.Get("to"), today)
	if err != nil {
		return nil, api.Errorf(api.CodeInvalidRequest, "to: %v", err)
	}
	from, err := day(q.Get("from"), to.AddDate(0, 0, -29))
	if err != nil {
		return nil, api.Errorf(api.CodeInvalidRequest, "from: %v", err)
	}
	if from.After(to) {
		return nil, api.Errorf(api.CodeInvalidRequest, "from (%s) is after to (%s)", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	if to.Sub(from) >= maxUsageDays*24*time.Hour {
		return nil, api.Errorf(api.CodeInvalidRequest, "the range is longer than %d days", maxUsageDays)
	}
	key := q.Get("key")
	rows, err := s.opts.Usage.UsageRollup(ctx, t, store.UsageFilter{From: from, To: to.AddDate(0, 0, 1), KeyID: key})
	if err != nil {
		return nil, api.Internal(err)
	}
	var total store.UsageRow
	byDay := map[string]*store.UsageRow{}
	byModel := map[string]*store.UsageRow{}
	for _, row := range rows {
		model := row.Provider + "/" + row.Model
		if byDay[row.Day] == nil {
			byDay[row.Day] = &store.UsageRow{}
		}
		if byModel[model] == nil {
			byModel[model] = &store.UsageRow{}
		}
		for _, sum := range []*store.UsageRow{&total, byDay[row.Day], byModel[model]} {
			addUsage(sum, &row)
		}
	}
	rep := &api.UsageReport{
		From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), KeyID: key,
		Totals: totals(total, "", ""), ByDay: []api.UsageTotals{}, ByModel: []api.UsageTotals{},
	}
	for _, d := range slices.Sorted(maps.Keys(byDay)) {
		rep.ByDay = append(rep.ByDay, totals(*byDay[d], d, ""))
	}
	for _, m := range slices.Sorted(maps.Keys(byModel)) {
		rep.ByModel = append(rep.ByModel, totals(*byModel[m], "", m))
	}
	return rep, nil
}

// addUsage adds the counts and sums of row to sum.
func addUsage(sum, row *store.UsageRow) {
	sum.Requests += row.Requests
	sum.Errors += row.Errors
	sum.Fallbacks += row.Fallbacks
	sum.CacheHits += row.CacheHits
	sum.TokensIn += row.TokensIn
	sum.TokensOut += row.TokensOut
	sum.CostMicros += row.CostMicros
	sum.TTSChars += row.TTSChars
	sum.LatencyMicros += row.LatencyMicros
	sum.TTFTMicros += row.TTFTMicros
	sum.TTFTRequests += row.TTFTRequests
}

func totals(sum store.UsageRow, day, model string) api.UsageTotals {
	return api.UsageTotals{
		Day: day, Model: model, Requests: sum.Requests, Errors: sum.Errors, Fallbacks: sum.Fallbacks,
		CacheHits: sum.CacheHits, TokensIn: sum.TokensIn, TokensOut: sum.TokensOut, CostUSD: float64(sum.CostMicros) / 1e6,
		TTSChars:  sum.TTSChars,
		LatencyMs: meanMillis(sum.LatencyMicros, sum.Requests),
		TTFTMs:    meanMillis(sum.TTFTMicros, sum.TTFTRequests),
	}
}

// meanMillis returns the mean of n durations that sum to micros
// microseconds, in milliseconds rounded to the microsecond, or 0 when n is
// 0.
func meanMillis(micros, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return math.Round(float64(micros)/float64(n)) / 1000
}

// day parses YYYY-MM-DD, or returns def for "".
func day(s string, def time.Time) (time.Time, error) {
	if strings.TrimSpace(s) == "" {
		return def, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, errBadDay
	}
	return t, nil
}

var errBadDay = errors.New("want a date as YYYY-MM-DD")
