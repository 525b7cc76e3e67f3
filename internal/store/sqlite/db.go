// Package sqlite implements the store interfaces on an embedded SQLite
// database, through the pure-Go driver modernc.org/sqlite (no cgo).
//
// A DB keeps two pools on one database file in WAL mode: a single writer
// connection, which serialises writes inside the process and begins its
// transactions with BEGIN IMMEDIATE so that they never fail half-way on a
// lock upgrade, and a pool of read-only connections that read alongside it.
// Open creates or upgrades the schema with the migrations embedded in the
// package, and a sweeper goroutine owned by the DB deletes expired KV rows
// until Close. The DB holds a tenant-scoped KV store (KV), the usage
// ledger with its daily rollup (Usage) and the chat sessions (Sessions).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	sqlitedriver "modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/crispy-enigma/crispy/internal/store"
)

// defaultSweepInterval is how often expired KV rows are deleted when
// Options.SweepInterval is zero.
const defaultSweepInterval = time.Minute

// pragmas are set on every connection, reader or writer. busy_timeout makes
// a connection wait for a lock held by another process instead of failing.
// synchronous(FULL) syncs the WAL on every commit, so that a write the server
// has acknowledged survives a power loss as well as a crash of the process.
// WAL mode is not among them: it is a property of the file, which Open turns
// on once, with enableWAL.
var pragmas = []string{
	"busy_timeout(5000)",
	"synchronous(FULL)",
	"foreign_keys(1)",
}

// busyTimeout is the busy_timeout of the pragmas, which enableWAL honours
// too.
const busyTimeout = 5 * time.Second

// Options configures a DB. The zero value gives the defaults.
type Options struct {
	// Now returns the current time, which decides when KV values expire.
	// The default is time.Now.
	Now func() time.Time
	// SweepInterval is how often the sweeper deletes expired KV rows. Zero
	// means one minute; a negative interval disables the sweeper, and only
	// calls to Sweep delete expired rows (Get ignores them either way).
	SweepInterval time.Duration
	// Logger receives the sweeper's reports. The default discards them.
	Logger *slog.Logger
}

// DB is an open SQLite database. It is safe for concurrent use.
type DB struct {
	writer *sql.DB // one connection: every write goes through it
	reader *sql.DB // read-only connections for Get and the usage queries
	now    func() time.Time
	logger *slog.Logger
	stmts  statements
	kv     *KV
	usage  *Usage

	closed    atomic.Bool
	stopSweep context.CancelFunc // nil when the sweeper is disabled
	sweepDone chan struct{}      // closed when the sweeper has returned
}

var _ store.Pinger = (*DB)(nil)

// Open opens the SQLite database at path, creating the file and its parent
// folder when they are missing, and applies the embedded migrations that it
// has not applied yet. path must name a file: ":memory:" is refused, since
// each connection would get a database of its own.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open: %w: path %q is not a file path", store.ErrInvalid, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	db := &DB{now: opts.Now, logger: opts.Logger}
	if db.now == nil {
		db.now = time.Now
	}
	if db.logger == nil {
		db.logger = slog.New(slog.DiscardHandler)
	}
	db.kv = &KV{db: db}
	db.usage = &Usage{db: db}

	// The writer goes first: it turns on WAL mode and migrates the schema
	// before any reader connects.
	db.writer, err = openPool(ctx, dsn(abs, url.Values{"_txlock": {"immediate"}}), 1)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: writer: %w", err)
	}
	if err := enableWAL(ctx, db.writer); err != nil {
		db.writer.Close()
		return nil, fmt.Errorf("sqlite: open: writer: %w", err)
	}
	if err := migrate(ctx, db.writer, db.now); err != nil {
		db.writer.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	db.reader, err = openPool(ctx, dsn(abs, url.Values{"_query_only": {"1"}}), readers)
	if err != nil {
		db.writer.Close()
		return nil, fmt.Errorf("sqlite: open: reader: %w", err)
	}
	if err := db.stmts.prepare(ctx, db.writer, db.reader); err != nil {
		db.stmts.close()
		db.reader.Close()
		db.writer.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
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

// dsn returns the data source name of the database file at the absolute path
// abs with the common pragmas and extra parameters. It is a file: URI, so
// that a '?' or '#' in the path is escaped rather than taken for the start of
// the parameters.
func dsn(abs string, extra url.Values) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows path such as C:/data/crispy.db
	}
	q := url.Values{"_pragma": pragmas}
	for k, v := range extra {
		q[k] = v
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	return u.String()
}

// openPool opens a pool of at most size connections and checks that one of
// them can be opened with the pragmas of dsn.
func openPool(ctx context.Context, dsn string, size int) (*sql.DB, error) {
	pool, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	pool.SetMaxOpenConns(size)
	pool.SetMaxIdleConns(size)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// enableWAL puts the database in WAL mode. On a new database that takes a
// read of the file followed by a write, and SQLite fails such an upgrade at
// once with SQLITE_BUSY, without calling the busy handler, when another
// connection holds the write lock (another process opening the same new
// database, say). So enableWAL retries, for as long as the busy timeout,
// until the mode is set; once it is, the pragma finds the file in WAL mode
// and takes no lock.
func enableWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	wait := time.Millisecond
	for {
		var mode string
		err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("journal_mode is %q, not wal", mode)
		case !isBusy(err) || time.Now().After(deadline):
			return fmt.Errorf("journal_mode wal: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("journal_mode wal: %w: %w", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// isBusy reports whether err is SQLITE_BUSY or one of its extended codes.
func isBusy(err error) bool {
	var se *sqlitedriver.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// statements are the queries prepared once at Open, on the pool that runs
// them: database/sql prepares each again on every connection it uses.
type statements struct {
	kvGet, kvSet, kvDelete, kvSweep *sql.Stmt

	usageInsert, usageInsertMany, usageAdd, usageRollup, usageRecords *sql.Stmt

	sessionTouch, messageInsert, messagesTrim, sessionSetSeq, messagesPage, sessionGet *sql.Stmt

	idempotencyPut, idempotencyGet, idempotencySweep *sql.Stmt

	documentGet, documentPut, documentSize, chunksDelete, chunkInsert, corpusBump, changeInsert *sql.Stmt
}

// prepare prepares the statements, leaving those it has prepared in place
// when it fails, for close.
func (s *statements) prepare(ctx context.Context, writer, reader *sql.DB) error {
	list := []struct {
		stmt  **sql.Stmt
		pool  *sql.DB
		query string
	}{
		{&s.kvGet, reader, kvGet},
		{&s.kvSet, writer, kvSet},
		{&s.kvDelete, writer, kvDelete},
		{&s.kvSweep, writer, kvSweep},
		{&s.usageInsert, writer, usageInsert},
		{&s.usageInsertMany, writer, usageInsertMany},
		{&s.usageAdd, writer, usageAdd},
		{&s.usageRollup, reader, usageRollup},
		{&s.usageRecords, reader, usageRecords},
		{&s.sessionTouch, writer, sessionTouch},
		{&s.messageInsert, writer, messageInsert},
		{&s.messagesTrim, writer, messagesTrim},
		{&s.sessionSetSeq, writer, sessionSetSeq},
		{&s.messagesPage, reader, messagesPage},
		{&s.sessionGet, reader, sessionGet},
		{&s.idempotencyPut, writer, idempotencyPut},
		{&s.idempotencyGet, reader, idempotencyGet},
		{&s.idempotencySweep, writer, idempotencySweep},
		{&s.documentGet, reader, documentGet},
		{&s.documentPut, writer, documentPut},
		{&s.documentSize, writer, documentSize},
		{&s.chunksDelete, writer, chunksDelete},
		{&s.chunkInsert, writer, chunkInsert},
		{&s.corpusBump, writer, corpusBump},
		{&s.changeInsert, writer, changeInsert},
	}
	for _, l := range list {
		stmt, err := l.pool.PrepareContext(ctx, l.query)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", l.query, err)
		}
		*l.stmt = stmt
	}
	return nil
}

// close closes the statements that have been prepared.
func (s *statements) close() error {
	var errs []error
	all := []*sql.Stmt{
		s.kvGet, s.kvSet, s.kvDelete, s.kvSweep,
		s.usageInsert, s.usageInsertMany, s.usageAdd, s.usageRollup, s.usageRecords,
		s.sessionTouch, s.messageInsert, s.messagesTrim, s.sessionSetSeq, s.messagesPage, s.sessionGet,
		s.idempotencyPut, s.idempotencyGet, s.idempotencySweep,
		s.documentGet, s.documentPut, s.documentSize, s.chunksDelete, s.chunkInsert, s.corpusBump, s.changeInsert,
	}
	for _, stmt := range all {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(errs...)
}

// KV returns the tenant-scoped key/value store kept in the database.
func (db *DB) KV() *KV { return db.kv }

// Usage returns the usage ledger and its daily rollup kept in the database.
func (db *DB) Usage() *Usage { return db.usage }

// Sessions returns the chat sessions kept in the database. It holds no state
// of its own: every Sessions of a DB is the same store.
func (db *DB) Sessions() *Sessions { return &Sessions{db: db} }

// Documents returns the tenants' knowledge bases kept in the database. It
// holds no state of its own: every Documents of a DB is the same store.
func (db *DB) Documents() *Documents { return &Documents{db: db} }

// Ping reports whether both the writer and a reader connection answer.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.ready(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := db.writer.PingContext(ctx); err != nil {
		return db.fail(ctx, "ping writer", err)
	}
	if err := db.reader.PingContext(ctx); err != nil {
		return db.fail(ctx, "ping reader", err)
	}
	return nil
}

// Close stops the sweeper and closes the database, waiting for the calls in
// progress to finish. Later calls on the DB, its KV, its Usage or its
// Sessions return ErrClosed.
// Closing a closed DB does nothing and returns nil.
func (db *DB) Close() error {
	if !db.closed.CompareAndSwap(false, true) {
		return nil
	}
	if db.stopSweep != nil {
		db.stopSweep()
		<-db.sweepDone
	}
	var errs []error
	if err := db.stmts.close(); err != nil {
		errs = append(errs, fmt.Errorf("sqlite: close statements: %w", err))
	}
	if err := db.reader.Close(); err != nil {
		errs = append(errs, fmt.Errorf("sqlite: close reader: %w", err))
	}
	if err := db.writer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("sqlite: close writer: %w", err))
	}
	return errors.Join(errs...)
}

// ready returns the error a call must fail with before touching the
// database: ErrClosed, or the error of a context that is already done.
func (db *DB) ready(ctx context.Context) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// fail wraps err, returned by the driver during op, so that callers can tell
// a cancelled context or a closed DB apart from a failure of the database.
func (db *DB) fail(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("sqlite: %s: %w: %w", op, ctxErr, err)
	}
	if db.closed.Load() && !errors.Is(err, store.ErrClosed) {
		return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrClosed, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}
