// Package app is the composition root of the server: it builds the stores,
// the tenant registry and the HTTP server from configuration, runs them, and
// shuts them down in order. cmd/crispy and the end-to-end tests share it.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crispy-enigma/crispy/internal/chat"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/console"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/h1"
	"github.com/crispy-enigma/crispy/internal/httpapi"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/provider/builtin"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/redis"
	"github.com/crispy-enigma/crispy/internal/search"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tokens"
	"github.com/crispy-enigma/crispy/internal/tools"
	toolsbuiltin "github.com/crispy-enigma/crispy/internal/tools/builtin"
	"github.com/crispy-enigma/crispy/internal/tts"
	"github.com/crispy-enigma/crispy/internal/version"
	"github.com/crispy-enigma/crispy/tenants"
)

// DBFile is the name of the embedded database inside the data folder.
const DBFile = "crispy.db"

// App is a configured server: stores, tenants, the gateway and the HTTP API.
type App struct {
	cfg       config.Serve
	log       *slog.Logger
	lookupEnv func(string) (string, bool)
	metrics   *obs.Metrics
	tracing   *obs.Tracing
	db        backend
	// health checks a shared store (PostgreSQL); nil on SQLite.
	health *storeHealth
	// redis holds the limits, stream slots and budgets replicas share; nil
	// when they are kept in this process.
	redis *redis.DB
	// stopListen stops the listener of other replicas' document changes;
	// nil on SQLite.
	stopListen func()
	transport  *h1.Transport
	ledger     *gateway.Ledger
	gateway    *gateway.Gateway
	chat       *chat.Service
	search     *search.Service
	tools      *tools.Dispatcher
	rag        *rag.Service
	jobs       *rag.Jobs
	tts        *tts.Service
	api        *httpapi.Server
	http       *http.Server
	// metricsHTTP serves the operator listener (/metrics and the probes);
	// nil when cfg.MetricsAddr is config.MetricsOff.
	metricsHTTP *http.Server
	metricsAddr atomic.Pointer[net.Addr] // bound address, once serving

	reloadMu sync.Mutex // one reload at a time
	configs  configState
	// operator serves the operator API; nil when it is off.
	operator *operatorAPI
	// current is the tenant config in force, with everything built from
	// it; a reload swaps in a new one whole.
	current   atomic.Pointer[snapshot]
	builtin   gateway.Adapter
	espeak    *tts.Espeak // nil when espeak-ng is not installed
	espeakErr error
}

// snapshot is one immutable view of the tenant config: the registry, the
// gateway catalog and the speech adapters built from it, and where it was
// read. Readers load it once and see the parts agree; nothing in it changes
// after it is stored.
type snapshot struct {
	registry *tenant.Registry
	catalog  *gateway.Catalog
	voices   map[string]tts.Synthesizer // by tenant ID
	// source is the tenants folder deployed last (the embedded examples
	// when there is none in dev), for seed documents; nil when the configs
	// come from the store alone.
	source fs.FS
}

// Deps are what an App takes from its environment. The zero value discards
// logs and reads no environment variables.
type Deps struct {
	Logger *slog.Logger
	// LookupEnv resolves the environment variables that tenant configs name
	// for provider credentials, and the OTEL_* variables of trace export
	// (os.LookupEnv in production).
	LookupEnv func(string) (string, bool)
}

// New validates cfg, loads and validates every tenant and opens storage. It
// returns an error, and opens nothing, when a tenant is invalid: a
// tenant.Problems error lists every problem.
func New(ctx context.Context, cfg config.Serve, deps Deps) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = obs.Discard
	}
	if deps.LookupEnv == nil {
		deps.LookupEnv = func(string) (string, bool) { return "", false }
	}
	log := deps.Logger
	a := &App{cfg: cfg, log: log, lookupEnv: deps.LookupEnv, metrics: obs.NewMetrics(), tracing: newTracing(ctx, deps.LookupEnv, log), transport: newTransport()}
	// Build the tokenizer's vocabulary in the background, while storage
	// opens and the server starts, rather than in the first request that
	// counts tokens (which waits for it if it comes first).
	go func() {
		if err := tokens.Load(); err != nil {
			log.Warn("tokenizer unavailable; token counts are estimated at four bytes a token", "error", err)
		}
	}()
	bp := builtin.New()
	a.builtin = gateway.Adapter{Chat: bp, Embed: bp}
	var err error
	// The folder is validated before anything opens: a server never starts
	// on a folder with a problem.
	var folder *tenantFolder
	if cfg.ConfigSource == config.ConfigFromFolder {
		if folder, err = a.readFolder(); err != nil {
			return nil, err
		}
	}
	var operator *operatorAPI
	if cfg.OperatorKeys != "" {
		keys, err := readOperatorKeys(cfg.OperatorKeys)
		if err != nil {
			return nil, err
		}
		operator = &operatorAPI{a: a}
		operator.keys.Store(&keys)
	}
	a.operator = operator
	a.espeak, a.espeakErr = tts.NewEspeak(ctx, tts.EspeakOptions{})

	a.db, err = openBackend(ctx, cfg, log)
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	reg, err := a.startConfigs(ctx, folder)
	if err != nil {
		a.db.Close()
		return nil, err
	}
	a.reportEspeak(reg)
	shared, err := a.openShared(ctx)
	if err != nil {
		a.db.Close()
		return nil, err
	}
	budgets := shared.budgets
	if err := a.instrument(budgets); err != nil {
		a.closeStores()
		return nil, err
	}
	if err := a.seedBudgets(ctx, budgets, reg); err != nil {
		a.closeStores()
		return nil, fmt.Errorf("read usage ledger: %w", err)
	}
	a.ledger = gateway.NewLedger(a.db.Usage(), log)
	a.gateway = gateway.New(gateway.Options{
		Catalog: func() *gateway.Catalog { return a.current.Load().catalog },
		Budgets: budgets,
		Cache:   shared.cache,
		Ledger:  a.ledger,
		Metrics: gateway.NewMetrics(a.metrics.Registry),
		Logger:  log,
		Tracer:  a.tracing.Tracer(tracerName),
	})
	trusted, _ := cfg.TrustedPrefixes() // checked by cfg.Validate
	sb, replicated := a.db.(sharedBackend)
	a.rag = rag.NewWithOptions(a.gateway, a.db.Documents(), log, a.metrics.Registry, rag.Options{
		Replicated:  replicated,
		IndexMemory: int64(cfg.IndexMemory) << 20,
		ImageDir:    rag.ImageDir(cfg.DataDir),
		Tracer:      a.tracing.Tracer(tracerName),
	})
	if replicated {
		// Other replicas' writes reach this one's indexes by notification.
		a.stopListen = sb.ListenCorpus(a.rag.Notify, a.rag.Resync)
	}
	a.rag.Rerankers = a.buildReranker
	a.jobs = rag.NewJobs(a.rag, log)
	if err := a.rag.Load(ctx, reg.Tenants()); err != nil {
		if a.stopListen != nil {
			a.stopListen()
		}
		a.rag.Close()
		a.closeStores()
		return nil, err
	}
	a.seedKnowledge(ctx, a.current.Load())
	a.search = search.New(a.rag, a.gateway, shared.cache, log, a.metrics.Registry)
	a.tools = tools.New(tools.Options{
		Registry: toolsbuiltin.Registry(toolsbuiltin.Deps{RAG: a.rag, Gateway: a.gateway}),
		Audit:    a.db.Audit(),
		Metrics:  a.metrics.Registry,
		Logger:   log,
		Tracer:   a.tracing.Tracer(tracerName),
	})
	a.tts = tts.New(tts.Options{
		Synthesizer: a.synthesizer,
		Budgets:     budgets,
		Ledger:      a.ledger,
		Metrics:     tts.NewMetrics(a.metrics.Registry),
		Logger:      log,
		Tracer:      a.tracing.Tracer(tracerName),
	})
	a.chat = chat.New(a.gateway, a.db.Sessions(), log)
	a.chat.RAG = a.rag
	a.chat.Tools = a.tools
	if l, ok := a.db.Sessions().(chat.SessionLocker); ok {
		// One writer per session across the replicas of a shared store.
		a.chat.Locker = l
	}
	var web http.Handler
	if cfg.Console {
		c, err := console.New(version.Get().Version)
		if err != nil {
			return nil, fmt.Errorf("web console: %w", err)
		}
		web = c
	}
	a.api = httpapi.New(httpapi.Options{
		Console:        web,
		Registry:       a.Registry,
		Gateway:        a.gateway,
		Chat:           a.chat,
		Search:         a.search,
		Tools:          a.tools,
		Audit:          a.db.Audit(),
		RAG:            a.rag,
		Jobs:           a.jobs,
		TTS:            a.tts,
		Heartbeat:      cfg.Heartbeat,
		MaxInFlight:    cfg.MaxInFlight,
		MinBodyRate:    cfg.MinBodyRate,
		ReadTimeout:    cfg.ReadTimeout,
		Limiter:        shared.limiter,
		Streams:        shared.streams,
		TrustedProxies: trusted,
		Usage:          a.db.Usage(),
		Storage:        a.db,
		StorageBackend: a.db.Name(),
		StorageUp:      shared.storageUp,
		Redis:          shared.redisPing,
		Version:        version.Get().Version,
		Logger:         log,
		Metrics:        a.metrics,
		Operator:       a.operatorBackend(),
		Tracer:         a.tracing.Tracer(tracerName),
		Propagator:     a.tracing.Propagator,
	})
	a.http = &http.Server{
		Handler:           a.api,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    httpapi.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.MetricsAddr != config.MetricsOff {
		a.metricsHTTP = &http.Server{
			Handler:           a.api.MetricsHandler(),
			ReadHeaderTimeout: metricsReadTimeout,
			ReadTimeout:       metricsReadTimeout,
			WriteTimeout:      metricsWriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    metricsMaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}
	return a, nil
}

// operatorBackend returns the operator API's backend, or nil (an
// interface holding no value) when it is off.
func (a *App) operatorBackend() httpapi.Operator {
	if a.operator == nil {
		return nil
	}
	return a.operator
}

// The operator listener's limits: its requests are small GETs from
// scrapers and probes, and its answers a few hundred KiB at most.
const (
	metricsReadTimeout    = 5 * time.Second
	metricsWriteTimeout   = 30 * time.Second
	metricsMaxHeaderBytes = 8 << 10
)

// EmbeddedTenants is how problems and logs name the example tenants
// embedded in the binary.
const EmbeddedTenants = "embedded:tenants"

// tenantFolder is a tenants folder read and validated: its files, as
// deployed to the store, and the folder itself, for seed documents.
type tenantFolder struct {
	name   string
	files  []tenant.File
	source fs.FS
}

// readFolder reads and validates the tenants folder. In dev, when the
// folder does not exist, it reads the example tenants embedded in the
// binary instead; in stage and prod a missing folder is an error.
func (a *App) readFolder() (*tenantFolder, error) {
	opts := tenant.Options{AllowDevKeys: a.cfg.Env == config.Dev, Env: string(a.cfg.Env)}
	dir := a.cfg.TenantsDir
	f := &tenantFolder{name: dir}
	if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) && a.cfg.Env == config.Dev {
		a.log.Warn("no tenants folder: serving the example tenants embedded in the binary; run 'crispy init' for a copy to edit",
			"tenants", dir, "examples", tenants.IDs)
		f.name, f.source = EmbeddedTenants, tenants.Examples
	} else {
		if st, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("read tenants folder: %w", err)
		} else if !st.IsDir() {
			return nil, fmt.Errorf("read tenants folder: %s is not a folder", dir)
		}
		f.source = os.DirFS(dir)
	}
	cfgs, files, err := tenant.LoadFiles(f.source, f.name, opts)
	if err != nil {
		return nil, err
	}
	if _, err := tenant.NewRegistry(cfgs, opts); err != nil {
		return nil, err
	}
	f.files = files
	return f, nil
}

// swap puts a new registry in force, in one snapshot with the provider
// adapters and speech adapters of its tenants, so that whoever sees a
// tenant finds its providers.
func (a *App) swap(reg *tenant.Registry, source fs.FS) {
	s := &snapshot{registry: reg, source: source, catalog: gateway.NewCatalog(reg, a.builtin, a.buildAdapter)}
	s.voices = a.buildSynthesizers(reg)
	a.current.Store(s)
	if a.rag == nil {
		return // the first swap, before the knowledge base exists
	}
	gone := a.rag.Retain(func(id tenant.ID) bool {
		_, ok := reg.Tenant(id.String())
		return ok
	})
	for _, id := range gone {
		a.log.Info("knowledge base of a removed tenant dropped from memory", "tenant", id.String())
	}
}

// seedBudgets loads this month's usage from the ledger into the budgets, so
// that a restart does not reset what tenants have spent.
func (a *App) seedBudgets(ctx context.Context, b *gateway.Budgets, reg *tenant.Registry) error {
	now := time.Now().UTC()
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	for _, t := range reg.Tenants() {
		rows, err := a.db.Usage().UsageRollup(ctx, t.ID, store.UsageFilter{From: monthStart})
		if err != nil {
			return err
		}
		for _, row := range rows {
			day, err := time.Parse(time.DateOnly, row.Day)
			if err != nil {
				return err
			}
			b.Seed(t.ID.String(), row.KeyID, day, gateway.Amount{Tokens: row.TokensIn + row.TokensOut, CostMicros: row.CostMicros, TTSChars: row.TTSChars})
		}
	}
	return nil
}

// Handler returns the HTTP API, for tests that drive it without a listener.
func (a *App) Handler() http.Handler { return a.api }

// MetricsHandler returns the handler of the operator listener (GET
// /metrics, /livez and /readyz), for tests that drive it without a
// listener. It works even when the listener is off.
func (a *App) MetricsHandler() http.Handler { return a.api.MetricsHandler() }

// MetricsAddr returns the address the operator listener is bound to, or nil
// when it is off or not serving yet.
func (a *App) MetricsAddr() net.Addr {
	if p := a.metricsAddr.Load(); p != nil {
		return *p
	}
	return nil
}

// Registry returns the tenant registry in force.
func (a *App) Registry() *tenant.Registry { return a.current.Load().registry }

// Reload puts the tenant configs in force again. With the folder as the
// source it reads and validates the folder, deploys it to the store and
// serves the store's active versions; with the store as the source it
// reads the active versions. A valid config replaces the old one
// atomically: requests in flight finish with the registry they started
// with, later ones see the new one. An invalid config is rejected and
// logged, and the old one keeps serving.
func (a *App) Reload() error {
	ctx, cancel := context.WithTimeout(context.Background(), configCallTimeout)
	defer cancel()
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.operator != nil {
		if keys, err := readOperatorKeys(a.cfg.OperatorKeys); err != nil {
			a.log.Error("operator keys rejected; the previous ones stay", "error", err)
		} else {
			a.operator.keys.Store(&keys)
		}
	}
	if a.cfg.ConfigSource == config.ConfigFromFolder {
		folder, err := a.readFolder()
		if err == nil {
			err = a.deployFolder(ctx, folder, "", "")
		}
		if err != nil {
			a.metrics.ConfigReloads.WithLabelValues("rejected").Inc()
			a.log.Error("tenant config rejected; the previous config keeps serving", "error", err)
			return err
		}
	}
	return a.applyActive(ctx, true)
}

// Serve accepts connections on l until ctx is cancelled, then drains: it
// reports not ready, lets in-flight requests finish within the shutdown
// timeout, and returns. Unless the configured metrics address is off, it
// also listens there and serves the operator endpoints (/metrics and the
// probes) until the API has drained. It does not close the stores; Close
// does.
func (a *App) Serve(ctx context.Context, l net.Listener) error {
	return a.serve(ctx, l, nil)
}

// serve is Serve, calling started, if not nil, once /readyz answers 200.
func (a *App) serve(ctx context.Context, l net.Listener, started func(net.Addr)) error {
	var ml net.Listener
	if a.metricsHTTP != nil {
		var err error
		if ml, err = net.Listen("tcp", a.cfg.MetricsAddr); err != nil {
			l.Close()
			return fmt.Errorf("listen on --metrics-addr: %w", err)
		}
		addr := ml.Addr()
		a.metricsAddr.Store(&addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- a.http.Serve(l) }()
	merrc := make(chan error, 1)
	if ml != nil {
		go func() { merrc <- a.metricsHTTP.Serve(ml) }()
	}
	a.api.SetReady(true)
	if started != nil {
		started(l.Addr())
	}
	metricsAddr := config.MetricsOff
	if ml != nil {
		metricsAddr = ml.Addr().String()
	}
	a.log.Info("serving", "addr", l.Addr().String(), "metrics_addr", metricsAddr, "env", a.cfg.Env, "tenants", tenantIDs(a.Registry()), "version", version.Get().Version)
	if a.cfg.Env == config.Dev {
		a.log.Warn("development keys are honoured (--env dev); never expose this server")
	}

	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go a.sweepSessions(sweepCtx, SessionSweepInterval)
	go a.watchConfigs(sweepCtx, ConfigPollInterval)

	select {
	case err := <-errc:
		a.api.SetReady(false)
		a.closeMetrics(merrc)
		return fmt.Errorf("serve: %w", err)
	case err := <-merrc:
		a.api.SetReady(false)
		a.http.Close()
		<-errc
		return fmt.Errorf("serve on --metrics-addr: %w", err)
	case <-ctx.Done():
	}
	a.api.SetReady(false)
	a.log.Info("draining", "timeout", a.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	// Batch ingests stop between documents while the requests drain,
	// within the same deadline.
	jobsc := make(chan error, 1)
	go func() { jobsc <- a.jobs.Shutdown(sctx) }()
	err := a.http.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if jerr := <-jobsc; jerr != nil {
		a.log.Warn("batch ingests cut short at the shutdown deadline", "error", jerr)
	}
	// The operator listener stays up while the API drains, so that the
	// drain can be watched; then it stops too.
	if a.metricsHTTP != nil {
		if merr := a.metricsHTTP.Shutdown(sctx); merr != nil {
			err = errors.Join(err, fmt.Errorf("metrics: %w", merr))
		}
		if merr := <-merrc; !errors.Is(merr, http.ErrServerClosed) {
			err = errors.Join(err, fmt.Errorf("metrics: %w", merr))
		}
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	a.log.Info("drained")
	return nil
}

// closeMetrics stops the operator listener at once, if it runs, and waits
// for its Serve to return.
func (a *App) closeMetrics(merrc <-chan error) {
	if a.metricsHTTP == nil {
		return
	}
	a.metricsHTTP.Close()
	<-merrc
}

// SessionSweepInterval is how often sessions idle past their tenant's
// sessions.maxAge are deleted.
const SessionSweepInterval = time.Minute

// sweepSessions deletes idle sessions, and audit records past their
// tenant's retention, every interval until ctx ends.
func (a *App) sweepSessions(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := time.Now()
			tenants := a.Registry().Tenants()
			n, err := a.chat.Sweep(ctx, tenants, now)
			if err != nil && ctx.Err() == nil {
				a.log.Error("session sweep failed", "error", err)
			}
			if n > 0 {
				a.log.Info("idle sessions deleted", "sessions", n)
			}
			a.expireAudit(ctx, tenants, now)
		}
	}
}

// expireAudit deletes each tenant's audit records older than its
// tools.auditRetention.
func (a *App) expireAudit(ctx context.Context, tenants []*tenant.Tenant, now time.Time) {
	for _, t := range tenants {
		n, err := a.db.Audit().DeleteAuditBefore(ctx, t.ID, now.Add(-t.Config.Tools.AuditRetention.D()))
		if err != nil && ctx.Err() == nil {
			a.log.Error("audit retention failed", "tenant", t.ID.String(), "error", err)
		}
		if n > 0 {
			a.log.Info("audit records past retention deleted", "tenant", t.ID.String(), "records", n)
		}
	}
}

// ListenAndServe listens on the configured address and serves until ctx is
// cancelled. started, if not nil, receives the bound address once the
// server is ready: listening, with /readyz answering 200.
func (a *App) ListenAndServe(ctx context.Context, started func(addr net.Addr)) error {
	l, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return a.serve(ctx, l, started)
}

// Close stops the batch ingests (waiting for them at most the shutdown
// timeout), flushes the usage ledger, closes the stores and flushes
// tracing. Call it after Serve returns.
func (a *App) Close() error {
	jctx, jcancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer jcancel()
	if err := a.jobs.Shutdown(jctx); err != nil {
		a.log.Warn("batch ingests cut short at the shutdown deadline", "error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.tts.Close()
	if a.stopListen != nil {
		a.stopListen()
	}
	a.rag.Close()
	a.ledger.Close()
	a.transport.CloseIdleConnections()
	return errors.Join(a.closeStores(), a.tracing.Shutdown(ctx))
}

// Gateway returns the model gateway, for tests.
func (a *App) Gateway() *gateway.Gateway { return a.gateway }

// WaitJobs waits for every running batch ingest, for tests.
func (a *App) WaitJobs() { a.jobs.Wait() }

// FlushUsage writes every queued usage record, for tests.
func (a *App) FlushUsage() { a.ledger.Flush() }

func tenantIDs(r *tenant.Registry) []string {
	var ids []string
	for _, t := range r.Tenants() {
		ids = append(ids, t.ID.String())
	}
	return ids
}
