package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crispy-enigma/crispy/internal/chat"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/postgres"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// backend is what the app needs of a storage backend: every store it
// serves from, a health check and Close. sqlite.DB and postgres.DB return
// their concrete stores, so each is adapted to it.
type backend interface {
	KV() store.KV
	Usage() store.Usage
	Sessions() store.Sessions
	Documents() store.Documents
	Audit() store.Audit
	Configs() store.Configs
	Ping(ctx context.Context) error
	Close() error
	// Name names the backend in GET /health and the logs.
	Name() string
}

var (
	_ backend       = sqliteBackend{}
	_ backend       = postgresBackend{}
	_ sharedBackend = postgresBackend{}

	_ chat.SessionLocker = (*postgres.Sessions)(nil)
)

// sharedBackend is the optional ability of a backend that several replicas write
// to: it tells this replica of the changes others make to knowledge bases.
type sharedBackend interface {
	// ListenCorpus calls onChange with each committed change of a
	// tenant's corpus version, and onConnect each time it (re)connects,
	// until stop is called.
	ListenCorpus(onChange func(tenant.ID, int64), onConnect func()) (stop func())
}

// sqliteBackend is the embedded database in the data folder.
type sqliteBackend struct{ db *sqlite.DB }

func (b sqliteBackend) KV() store.KV                   { return b.db.KV() }
func (b sqliteBackend) Usage() store.Usage             { return b.db.Usage() }
func (b sqliteBackend) Sessions() store.Sessions       { return b.db.Sessions() }
func (b sqliteBackend) Documents() store.Documents     { return b.db.Documents() }
func (b sqliteBackend) Audit() store.Audit             { return b.db.Audit() }
func (b sqliteBackend) Configs() store.Configs         { return b.db.Configs() }
func (b sqliteBackend) Ping(ctx context.Context) error { return b.db.Ping(ctx) }
func (b sqliteBackend) Close() error                   { return b.db.Close() }
func (b sqliteBackend) Name() string                   { return "sqlite" }

// postgresBackend is a PostgreSQL database shared by replicas.
type postgresBackend struct{ db *postgres.DB }

func (b postgresBackend) KV() store.KV                   { return b.db.KV() }
func (b postgresBackend) Usage() store.Usage             { return b.db.Usage() }
func (b postgresBackend) Sessions() store.Sessions       { return b.db.Sessions() }
func (b postgresBackend) Documents() store.Documents     { return b.db.Documents() }
func (b postgresBackend) Audit() store.Audit             { return b.db.Audit() }
func (b postgresBackend) Configs() store.Configs         { return b.db.Configs() }
func (b postgresBackend) Ping(ctx context.Context) error { return b.db.Ping(ctx) }
func (b postgresBackend) Close() error                   { return b.db.Close() }
func (b postgresBackend) Name() string                   { return "postgres" }

func (b postgresBackend) ListenCorpus(onChange func(tenant.ID, int64), onConnect func()) func() {
	l := b.db.ListenCorpus(postgres.ListenOptions{OnChange: onChange, OnConnect: onConnect})
	return l.Close
}

// openBackend opens the store cfg names: PostgreSQL when cfg.Store is set,
// else SQLite in the data folder.
func openBackend(ctx context.Context, cfg config.Serve, log *slog.Logger) (backend, error) {
	if cfg.Store == "" {
		db, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, DBFile), sqlite.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		return sqliteBackend{db}, nil
	}
	octx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
	defer cancel()
	db, err := postgres.Open(octx, cfg.Store, postgres.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.Redact(cfg.Store), err)
	}
	log.Info("storage on PostgreSQL", "store", config.Redact(cfg.Store), "schema", db.Schema())
	return postgresBackend{db}, nil
}

// storeOpenTimeout bounds connecting to PostgreSQL and migrating at start
// (migrations wait for other replicas that migrate at the same moment).
const storeOpenTimeout = time.Minute

// Health checks of a shared store: how often, how long one may take, and
// how many must fail in a row before the store counts as down (one ping
// that waits too long for a busy pool must not refuse every request).
const (
	storeCheckInterval = time.Second
	storeCheckTimeout  = time.Second
	storeCheckFailures = 2
)

// storeHealth pings a shared store every interval in a goroutine it owns
// and keeps the outcome, so that /readyz and the tenant routes learn within
// seconds that the database went away, and when it is back, without each
// request waiting for a timeout.
type storeHealth struct {
	b        backend
	log      *slog.Logger
	interval time.Duration
	timeout  time.Duration

	err   atomic.Pointer[error] // nil while the store answers
	fails int                   // failed checks in a row; run's own
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// newStoreHealth starts checking b.
func newStoreHealth(b backend, log *slog.Logger, interval, timeout time.Duration) *storeHealth {
	h := &storeHealth{b: b, log: log, interval: interval, timeout: timeout, stop: make(chan struct{}), done: make(chan struct{})}
	go h.run()
	return h
}

// Up returns nil while the store answered its last check, and the error of
// that check otherwise.
func (h *storeHealth) Up() error {
	if p := h.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (h *storeHealth) run() {
	defer close(h.done)
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.check()
		}
	}
}

// check pings the store once and records a change of state, logging it.
func (h *storeHealth) check() {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	err := h.b.Ping(ctx)
	cancel()
	was := h.Up()
	if err != nil {
		h.fails++
	} else {
		h.fails = 0
	}
	switch {
	case err != nil && h.fails < storeCheckFailures:
		// One failure may be a slow pool; the next check decides.
	case err != nil && was == nil:
		err = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		h.err.Store(&err)
		h.log.Error("storage is not answering: tenant requests get 503 until it does", "backend", h.b.Name(), "error", err)
	case err != nil:
		h.err.Store(&err)
	case was != nil:
		h.err.Store(nil)
		h.log.Info("storage answers again", "backend", h.b.Name())
	}
}

// Close stops the checks.
func (h *storeHealth) Close() {
	h.once.Do(func() { close(h.stop) })
	<-h.done
}
