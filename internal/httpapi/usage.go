package httpapi

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/store"
)

// maxUsageDays bounds the range of one GET /usage.
const maxUsageDays = 366

// usage answers GET /usage?from=YYYY-MM-DD&to=YYYY-MM-DD&key=ID: the
// tenant's usage by day and by model, from the ledger's daily rollup. The
// range is inclusive and defaults to the last 30 days.
func (s *Server) usage(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Usage == nil {
		return api.Errorf(api.CodeUnavailable, "usage is not recorded on this server")
	}
	q := r.URL.Query()
	if err := checkQuery(q, "from", "to", "key"); err != nil {
		return err
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	to, err := day(q.Get("to"), today)
	if err != nil {
		return api.Errorf(api.CodeInvalidRequest, "to: %v", err)
	}
	from, err := day(q.Get("from"), to.AddDate(0, 0, -29))
	if err != nil {
		return api.Errorf(api.CodeInvalidRequest, "from: %v", err)
	}
	if from.After(to) {
		return api.Errorf(api.CodeInvalidRequest, "from (%s) is after to (%s)", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	if to.Sub(from) >= maxUsageDays*24*time.Hour {
		return api.Errorf(api.CodeInvalidRequest, "the range is longer than %d days", maxUsageDays)
	}
	id := Caller(r)
	rows, err := s.opts.Usage.UsageRollup(r.Context(), id.Tenant.ID, store.UsageFilter{From: from, To: to.AddDate(0, 0, 1), KeyID: q.Get("key")})
	if err != nil {
		return api.Internal(err)
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
			sum.Requests += row.Requests
			sum.Errors += row.Errors
			sum.Fallbacks += row.Fallbacks
			sum.CacheHits += row.CacheHits
			sum.TokensIn += row.TokensIn
			sum.TokensOut += row.TokensOut
			sum.CostMicros += row.CostMicros
			sum.TTSChars += row.TTSChars
		}
	}
	rep := api.UsageReport{
		From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), KeyID: q.Get("key"),
		Totals: totals(total, "", ""), ByDay: []api.UsageTotals{}, ByModel: []api.UsageTotals{},
	}
	for _, d := range slices.Sorted(maps.Keys(byDay)) {
		rep.ByDay = append(rep.ByDay, totals(*byDay[d], d, ""))
	}
	for _, m := range slices.Sorted(maps.Keys(byModel)) {
		rep.ByModel = append(rep.ByModel, totals(*byModel[m], "", m))
	}
	return writeData(w, r, http.StatusOK, rep)
}

func totals(sum store.UsageRow, day, model string) api.UsageTotals {
	return api.UsageTotals{
		Day: day, Model: model, Requests: sum.Requests, Errors: sum.Errors, Fallbacks: sum.Fallbacks,
		CacheHits: sum.CacheHits, TokensIn: sum.TokensIn, TokensOut: sum.TokensOut, CostUSD: float64(sum.CostMicros) / 1e6,
		TTSChars: sum.TTSChars,
	}
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
