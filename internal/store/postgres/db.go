// Package postgres implements the store interfaces on PostgreSQL, through
// pgx (pure Go, no cgo), so that several crispy replicas share one
// database: the KV store, the usage ledger with its daily rollup, the chat
// sessions with their idempotency records, the knowledge bases (documents,
// chunks with their vectors as bytea, corpus versions and totals) and the
// audit log.
//
// Open creates or upgrades the schema with the migrations embedded in the
// package, under an advisory lock, so that replicas starting together
// migrate it once. The tables have row-level security, FORCEd, and the
// store's connections run as the role crispy_app, which owns nothing: every
// call sets the tenant for its transaction (set_config('crispy.tenant', ...,
// true)) and the policies show and accept that tenant's rows only, so a
// query that forgot its tenant filter still reads nothing of another
// tenant. A sweeper goroutine owned by the DB deletes expired KV values and
// idempotency records, as the role crispy_sweeper, until Close.
//
// Every change to a tenant's documents is recorded in the change feed
// (Documents.Changes) and notified on CorpusChannel when it commits;
// ListenCorpus listens there for replicas to keep their indexes fresh.
//
// Most calls take one round trip: the tenant, the statements and the
// implicit transaction that holds them go out as one pipelined batch.
// Calls that read before they write (appending messages, putting or
// deleting documents) run an explicit transaction. Batches of rows are
// written with one statement over arrays (INSERT ... SELECT FROM unnest),
// whatever their size.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crispy-enigma/crispy/internal/store"
)

// The roles the store runs as. Open creates them (NOLOGIN) when they are
// missing and grants them to the user of the DSN, which owns the tables.
const (
	// AppRole is the role of every connection of the pool: it may read and
	// write the tenant tables, through their policies only.
	AppRole = "crispy_app"
	// SweeperRole is the role of the sweep: it may see and delete the rows
	// that expire (KV values and idempotency records) of every tenant.
	SweeperRole = "crispy_sweeper"
	// ConfigRole is the role of the config store (Configs): it may read
	// and write the tenant config tables, and nothing else; AppRole has no
	// privilege on them.
	ConfigRole = "crispy_config"
)

// DefaultSchema is the schema that holds the tables when Options.Schema is
// empty.
const DefaultSchema = "crispy"

// defaultSweepInterval is how often expired rows are deleted when
// Options.SweepInterval is zero.
const defaultSweepInterval = time.Minute

// setTenant sets the tenant of the transaction it runs in; the policies of
// every tenant table compare their rows' tenant with it.
const setTenant = `SELECT set_config('crispy.tenant', $1, true)`

// schemaPattern is the shape of a schema name Open accepts: a plain
// lowercase identifier, which needs no quoting.
var schemaPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Options configures a DB. The zero value gives the defaults.
type Options struct {
	// Now returns the current time, which decides when KV values and
	// idempotency records expire and stamps sessions, messages and
	// documents. The default is time.Now.
	Now func() time.Time
	// SweepInterval is how often the sweeper deletes expired rows. Zero
	// means one minute; a negative interval disables the sweeper, and only
	// calls to Sweep delete expired rows (reads ignore them either way).
	SweepInterval time.Duration
	// Logger receives the sweeper's reports. The default discards them.
	Logger *slog.Logger
	// Schema is the schema that holds the tables, created when missing:
	// a lowercase identifier. The default is DefaultSchema.
	Schema string
	// MaxConns caps the connections of the pool. Zero means pgxpool's
	// default (4, or the number of CPUs when more); a pool_max_conns in
	// the DSN wins over both.
	MaxConns int32
}

// DB is an open PostgreSQL store. It is safe for concurrent use.
type DB struct {
	pool   *pgxpool.Pool
	now    func() time.Time
	logger *slog.Logger
	schema string

	closed    atomic.Bool
	leases    staleLeases        // session leases this process failed to release
	stopSweep context.CancelFunc // nil when the sweeper is disabled
	sweepDone chan struct{}      // closed when the sweeper has returned
}

var _ store.Pinger = (*DB)(nil)

// Open connects to the PostgreSQL database of dsn (a URL such as
// postgres://crispy@db.internal/crispy or key=value pairs), creates the
// schema and the roles when they are missing, applies the embedded
// migrations it has not applied yet, and returns a DB whose connections run
// as AppRole. The user of dsn must be able to create them the first time
// (see docs/scale-out.md); it owns the tables.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	schema := opts.Schema
	if schema == "" {
		schema = DefaultSchema
	}
	if !schemaPattern.MatchString(schema) || schema == "pg_catalog" || schema == "information_schema" {
		return nil, fmt.Errorf("postgres: open: %w: schema %q is not a lowercase identifier", store.ErrInvalid, schema)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w: %w", store.ErrInvalid, err)
	}
	if opts.MaxConns > 0 && !hasParam(dsn, "pool_max_conns") {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	// Every connection of the pool is the application's role, not the
	// tables' owner.
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "SET ROLE "+AppRole)
		return err
	}

	db := &DB{now: opts.Now, logger: opts.Logger, schema: schema}
	if db.now == nil {
		db.now = time.Now
	}
	if db.logger == nil {
		db.logger = slog.New(slog.DiscardHandler)
	}
	if err := migrate(ctx, cfg.ConnConfig.Copy(), schema, db.now); err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	db.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := db.pool.Ping(ctx); err != nil {
		db.pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}

	interval := opts.SweepInterval
	if interval == 0 {
		interval = defaultSweepInterval
	}
	if interval > 0 {
		db.startSweeper(interval)
	}
	return db, nil
}

// hasParam reports whether the DSN sets the parameter name, in either of
// its forms.
func hasParam(dsn, name string) bool {
	return regexp.MustCompile(`(^|[?&\s])` + name + `=`).MatchString(dsn)
}

// KV returns the tenant-scoped key/value store kept in the database.
func (db *DB) KV() *KV { return &KV{db: db} }

// Usage returns the usage ledger and its daily rollup.
func (db *DB) Usage() *Usage { return &Usage{db: db} }

// Sessions returns the chat sessions with their idempotency records.
func (db *DB) Sessions() *Sessions { return &Sessions{db: db} }

// Documents returns the tenants' knowledge bases.
func (db *DB) Documents() *Documents { return &Documents{db: db} }

// Audit returns the audit log of tool invocations.
func (db *DB) Audit() *Audit { return &Audit{db: db} }

// Schema returns the schema that holds the tables.
func (db *DB) Schema() string { return db.schema }

// Ping reports whether a connection of the pool answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.ready(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	if err := db.pool.Ping(ctx); err != nil {
		return db.fail(ctx, "ping", err)
	}
	return nil
}

// Close stops the sweeper and closes the pool, waiting for the calls in
// progress to finish. Later calls on the DB or its stores return
// ErrClosed. Closing a closed DB does nothing and returns nil.
func (db *DB) Close() error {
	if !db.closed.CompareAndSwap(false, true) {
		return nil
	}
	if db.stopSweep != nil {
		db.stopSweep()
		<-db.sweepDone
	}
	db.pool.Close()
	return nil
}

// ready returns the error a call must fail with before touching the
// database: ErrClosed, or the error of a context that is already done.
func (db *DB) ready(ctx context.Context) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// fail wraps err, returned by pgx during op, so that callers can tell a
// cancelled context, a closed DB or text PostgreSQL cannot hold (a NUL
// byte, invalid UTF-8: store.ErrInvalid) apart from a failure of the
// database.
func (db *DB) fail(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("postgres: %s: %w: %w", op, ctxErr, err)
	}
	if db.closed.Load() && !errors.Is(err, store.ErrClosed) {
		return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrClosed, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "22021", "22P05": // character_not_in_repertoire, untranslatable_character
			return fmt.Errorf("postgres: %s: %w: text must be UTF-8 without NUL: %w", op, store.ErrInvalid, err)
		}
	}
	if unreachable(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// unreachable reports whether err means the server could not be reached or
// went away (a refused or cut connection, a timeout, a server shutting
// down), rather than a statement it refused.
func unreachable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// connection_exception, admin_shutdown, crash_shutdown,
		// cannot_connect_now, too_many_connections.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "conn closed")
}

// tenantBatch returns a batch whose first statement sets the tenant of
// the transaction; the caller queues the statements that follow and reads
// the result of setTenant first.
func tenantBatch(tenantID string) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(setTenant, tenantID)
	return b
}

// send sends b, which tenantBatch began, as one implicit transaction, and
// returns its results past setTenant. The caller closes them.
func (db *DB) send(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, error) {
	br := db.pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, err
	}
	return br, nil
}

// exec runs b, which tenantBatch began, as one implicit transaction, and
// returns the rows affected by each statement after setTenant.
func (db *DB) exec(ctx context.Context, b *pgx.Batch) ([]int64, error) {
	br, err := db.send(ctx, b)
	if err != nil {
		return nil, err
	}
	n := make([]int64, b.Len()-1)
	for i := range n {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return nil, err
		}
		n[i] = tag.RowsAffected()
	}
	return n, br.Close()
}

// readOnly is the isolation of the reads that run several statements: one
// snapshot for all of them.
var readOnly = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// batchRow is the row of the statement after setTenant in a batch: it
// closes the batch once scanned.
type batchRow struct {
	br  pgx.BatchResults
	err error
}

func (r batchRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	err := r.br.QueryRow().Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

// queryRow runs query with args for tenant t in one round trip and returns
// its row, pgx.ErrNoRows when it has none.
func (db *DB) queryRow(ctx context.Context, t interface{ String() string }, query string, args ...any) pgx.Row {
	b := tenantBatch(t.String())
	b.Queue(query, args...)
	br, err := db.send(ctx, b)
	return batchRow{br: br, err: err}
}
