package gateway

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// The budget gauges, read from the budget store at each scrape. A budget is
// one of the tenant's caps (limits.budget), named as in its config and in
// the budget_exceeded error: tokensPerDay, tokensPerMonth, usdPerDay,
// usdPerMonth, ttsCharsPerDay. Values are in the cap's unit: tokens, US
// dollars, characters.
var (
	budgetLimitDesc = prometheus.NewDesc("crispy_budget_limit",
		"Each tenant's budget caps, by tenant and budget (tokensPerDay, tokensPerMonth, usdPerDay, usdPerMonth, ttsCharsPerDay), in the cap's unit (tokens, US dollars, characters).",
		[]string{"tenant", "budget"}, nil)
	budgetRemainingDesc = prometheus.NewDesc("crispy_budget_remaining",
		"What is left of each tenant budget in the current UTC day or month (the cap less the settled usage, never below 0), by tenant and budget, in the cap's unit.",
		[]string{"tenant", "budget"}, nil)
)

// budgetScrapeTimeout bounds the store reads of one scrape.
const budgetScrapeTimeout = 2 * time.Second

// allMetrics are every budgeted quantity.
var allMetrics = []Metric{MetricTokens, MetricCostMicros, MetricTTSChars}

// Instrument registers the budgets' metrics with reg: the rejections
// counter, and the limit and remaining gauges of the tenant-wide caps of
// every tenant that tenants returns (called at each scrape). Call it before
// the budgets are used.
func (b *Budgets) Instrument(reg prometheus.Registerer, tenants func() []*tenant.Tenant) error {
	rejections := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crispy_budget_rejections_total",
		Help: "Calls refused before any provider was called: by a budget cap (scope tenant or key, budget the cap's name), or because the budget store could not answer (scope store, budget unavailable).",
	}, []string{"tenant", "scope", "budget"})
	if err := reg.Register(rejections); err != nil {
		return err
	}
	if err := reg.Register(budgetCollector{b: b, tenants: tenants}); err != nil {
		reg.Unregister(rejections)
		return err
	}
	b.rejections = rejections
	return nil
}

// reject counts a refused reservation.
func (b *Budgets) reject(tenantID, scope, budget string) {
	if b.rejections != nil {
		b.rejections.WithLabelValues(tenantID, scope, budget).Inc()
	}
}

// budgetCollector reports the budget gauges.
type budgetCollector struct {
	b       *Budgets
	tenants func() []*tenant.Tenant
}

func (budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- budgetLimitDesc
	ch <- budgetRemainingDesc
}

func (c budgetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), budgetScrapeTimeout)
	defer cancel()
	for _, t := range c.tenants() {
		for _, bc := range c.b.caps(t, nil, allMetrics) {
			id := t.ID.String()
			ch <- prometheus.MustNewConstMetric(budgetLimitDesc, prometheus.GaugeValue, inUnit(bc.k.Metric, bc.limit), id, bc.name)
			used, err := c.b.store.Used(ctx, bc.k)
			if err != nil {
				// Unknown is left out rather than reported as a full or an
				// empty budget; crispy_backend_up says why.
				continue
			}
			ch <- prometheus.MustNewConstMetric(budgetRemainingDesc, prometheus.GaugeValue, inUnit(bc.k.Metric, max(0, bc.limit-used)), id, bc.name)
		}
	}
}

// inUnit converts a counter's value to the unit its metric reports:
// micro-dollars to dollars, others unchanged.
func inUnit(m Metric, v int64) float64 {
	if m == MetricCostMicros {
		return float64(v) / 1e6
	}
	return float64(v)
}
