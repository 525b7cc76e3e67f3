package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func newServe(e *env) *cobra.Command {
	cfg := config.Defaults()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API server",
		Long: `Run the API server.

With no flags, from the repository root, it serves the example tenants in
./tenants on embedded storage in ./data, at http://127.0.0.1:8080, and
serves Prometheus metrics apart from the API, at http://127.0.0.1:9090/metrics
(--metrics-addr; "off" serves none).

To run several replicas as one platform, give them one PostgreSQL (--store)
and one Redis (--redis): sessions, documents, the usage ledger and the audit
log then live in PostgreSQL, rate limits, stream slots and budgets in Redis
(see docs/scale-out.md).

Every flag can also be set by an environment variable: CRISPY_ and the flag
name in upper case, '-' as '_' (--log-level: CRISPY_LOG_LEVEL). Flags win.

Tenant configs are served from the store, where each tenant's config is
kept as numbered versions: the tenants folder is deployed there at start and
on SIGHUP (--config-source folder), or an operator deploys to it
(--config-source store). Every replica polls the store and serves a new
deployment within a second, without a signal (see docs/tenants.md).

Signals: SIGHUP reloads the tenant configs (an invalid config is rejected
and the old one keeps serving); SIGINT and SIGTERM drain in-flight requests
and stop.`,
		Example: `  crispy serve
  crispy serve --addr :9000 --env prod --tenants /etc/crispy/tenants --data /var/lib/crispy
  CRISPY_LOG_LEVEL=debug crispy serve
  crispy serve --store postgres://crispy@db.internal/crispy --redis redis://cache.internal:6379/0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.ApplyEnv(cmd.Flags(), e.lookup); err != nil {
				return &exitError{2, err}
			}
			return serve(cmd.Context(), e, cfg)
		},
	}
	cfg.Bind(cmd.Flags())
	return cmd
}

func serve(ctx context.Context, e *env, cfg config.Serve) error {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return &exitError{2, err}
	}
	level, err := obs.ParseLevel(cfg.LogLevel)
	if err != nil {
		return &exitError{2, err}
	}
	log := obs.NewLogger(e.stderr, level)

	a, err := app.New(ctx, cfg, app.Deps{Logger: log, LookupEnv: e.lookup})
	if err != nil {
		var ps tenant.Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				log.Error("invalid tenant config", "file", p.File, "path", p.Path, "problem", p.Message)
			}
			return &exitError{1, fmt.Errorf("refusing to start: %d problem(s) in %s; run 'crispy validate %s --env %s' to list them", len(ps), cfg.TenantsDir, cfg.TenantsDir, cfg.Env)}
		}
		return &exitError{1, fmt.Errorf("refusing to start: %w", err)}
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	stopReloads := reloadOn(hup, a.Reload)

	err = a.ListenAndServe(ctx, func(addr net.Addr) {
		metricsAddr := config.MetricsOff
		if m := a.MetricsAddr(); m != nil {
			metricsAddr = m.String()
		}
		log.Info("started", "addr", addr.String(), "metrics_addr", metricsAddr, "startup_ms", float64(time.Since(start).Microseconds())/1000)
	})
	// No reload may run while, or after, the app closes.
	signal.Stop(hup)
	stopReloads()
	if cerr := a.Close(); cerr != nil {
		log.Error("close", "error", cerr)
	}
	if err != nil {
		return &exitError{1, err}
	}
	log.Info("stopped", slog.String("uptime", time.Since(start).Round(time.Millisecond).String()))
	return nil
}

// reloadOn calls reload for every signal received on sig, in a goroutine
// that it owns, until the returned stop is called: stop ends the goroutine
// and returns once it has exited (after a reload under way has finished).
func reloadOn(sig <-chan os.Signal, reload func() error) (stop func()) {
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-sig:
				_ = reload() // logged by Reload; the old config keeps serving
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-exited
	}
}
