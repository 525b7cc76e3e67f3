package app

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// backendUpDesc describes crispy_backend_up.
var backendUpDesc = prometheus.NewDesc("crispy_backend_up",
	"Whether a backend answers (1) or not (0), by backend: sqlite or postgres (the store), redis (with --redis).",
	[]string{"backend"}, nil)

// backendPingTimeout bounds a ping made for a scrape.
const backendPingTimeout = time.Second

// instrument registers the metrics the app itself reports: whether each
// backend answers, and the budgets' rejections, limits and remainders.
func (a *App) instrument(budgets *gateway.Budgets) error {
	if err := a.metrics.Registry.Register(backendCollector{a}); err != nil {
		return fmt.Errorf("backend metric: %w", err)
	}
	tenants := func() []*tenant.Tenant { return a.current.Load().registry.Tenants() }
	if err := budgets.Instrument(a.metrics.Registry, tenants); err != nil {
		return fmt.Errorf("budget metrics: %w", err)
	}
	return nil
}

// backendCollector reports crispy_backend_up at each scrape: PostgreSQL's
// from the health check that already runs every second (so a scrape never
// waits for it), SQLite and Redis by a ping.
type backendCollector struct{ a *App }

func (backendCollector) Describe(ch chan<- *prometheus.Desc) { ch <- backendUpDesc }

func (c backendCollector) Collect(ch chan<- prometheus.Metric) {
	up := func(name string, err error) {
		v := 1.0
		if err != nil {
			v = 0
		}
		ch <- prometheus.MustNewConstMetric(backendUpDesc, prometheus.GaugeValue, v, name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), backendPingTimeout)
	defer cancel()
	if c.a.health != nil {
		up(c.a.db.Name(), c.a.health.Up())
	} else {
		up(c.a.db.Name(), c.a.db.Ping(ctx))
	}
	if c.a.redis != nil {
		up("redis", c.a.redis.Ping(ctx))
	}
}
