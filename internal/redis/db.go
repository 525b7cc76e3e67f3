package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Defaults of Options.
const (
	DefaultPrefix   = "crispy:"
	DefaultLeaseTTL = 30 * time.Second
	// DefaultTimeout bounds one call to Redis when Open makes the client.
	DefaultTimeout = 500 * time.Millisecond
	// DefaultBackoff is how long calls fail at once after Redis could not
	// be reached.
	DefaultBackoff = 250 * time.Millisecond
)

// ErrUnavailable is returned at once, without asking Redis, for a while
// after Redis could not be reached (Options.Backoff), so that an outage
// where Redis does not even refuse connections costs each request nothing
// rather than a timeout.
var ErrUnavailable = errors.New("redis: unavailable")

// Options configures a DB. The zero value means the defaults.
type Options struct {
	// Prefix starts every key: DefaultPrefix when empty. Tests use a prefix
	// of their own and delete its keys afterwards.
	Prefix string
	// LeaseTTL is how long a stream slot or budget reservation outlives the
	// last renewal: DefaultLeaseTTL when zero. Leases are renewed every
	// LeaseTTL/3.
	LeaseTTL time.Duration
	// Timeout bounds each call to Redis of a client made by Open (dial,
	// read, write): DefaultTimeout when zero.
	Timeout time.Duration
	// Backoff is how long calls fail at once with ErrUnavailable after a
	// call could not reach Redis: DefaultBackoff when zero. The first call
	// after it tries Redis again.
	Backoff time.Duration
	// Logger receives failures; nil: discard.
	Logger *slog.Logger
	// OnError is called, if set, each time Redis fails a call, e.g. to
	// count it in a metric.
	OnError func(error)
}

// DB is a connection to Redis shared by the stores of this package and the
// owner of the goroutine that renews this process's leases. Close stops it.
type DB struct {
	rdb      goredis.UniversalClient
	owned    bool // Close closes rdb
	prefix   string
	leaseTTL time.Duration
	log      *slog.Logger
	onError  func(error)
	backoff  time.Duration

	leases    leaseSet
	errors    atomic.Int64
	downUntil atomic.Int64 // Unix ns before which calls fail at once

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Open connects to the Redis of url (redis://[user:pass@]host:port/db or
// rediss:// for TLS), checks that it answers, and returns a DB over it.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	o, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = timeout, timeout, timeout
	o.PoolTimeout = 2 * timeout
	// A script that timed out may have run: retrying it could charge
	// twice.
	o.MaxRetries = -1
	o.ContextTimeoutEnabled = true
	rdb := goredis.NewClient(o)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis: %s: %w", o.Addr, err)
	}
	db := New(rdb, opts)
	db.owned = true
	return db, nil
}

// New returns a DB over a client the caller made (a Client, a
// ClusterClient or a Ring); Close leaves it open.
func New(rdb goredis.UniversalClient, opts Options) *DB {
	db := &DB{
		rdb:      rdb,
		prefix:   opts.Prefix,
		leaseTTL: opts.LeaseTTL,
		log:      opts.Logger,
		onError:  opts.OnError,
		backoff:  opts.Backoff,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if db.prefix == "" {
		db.prefix = DefaultPrefix
	}
	if db.leaseTTL <= 0 {
		db.leaseTTL = DefaultLeaseTTL
	}
	if db.backoff <= 0 {
		db.backoff = DefaultBackoff
	}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	db.leases.m = make(map[string]map[string]struct{})
	go db.renewLoop()
	return db
}

// Client returns the underlying client.
func (db *DB) Client() goredis.UniversalClient { return db.rdb }

// Ping reports whether Redis answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.rdb.Ping(ctx).Err(); err != nil {
		return db.fail(err)
	}
	db.ok()
	return nil
}

// Errors returns the number of failed calls to Redis so far.
func (db *DB) Errors() int64 { return db.errors.Load() }

// Close stops renewing leases and, if Open made the client, closes it. The
// leases this process holds then lapse within the lease TTL, as if it had
// died; release them first to free them at once.
func (db *DB) Close() error {
	var err error
	db.once.Do(func() {
		close(db.stop)
		<-db.done
		if db.owned {
			err = db.rdb.Close()
		}
	})
	return err
}

// key returns the key of name in tenant t's namespace.
func (db *DB) key(t, name string) string {
	return db.prefix + "{" + t + "}:" + name
}

// fail counts and reports err, if it is a failure of Redis, and returns it.
// When Redis could not be reached (not an error Redis answered), calls
// fail at once for the backoff.
func (db *DB) fail(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		return err
	}
	db.errors.Add(1)
	if db.onError != nil {
		db.onError(err)
	}
	var answered goredis.Error
	if !errors.As(err, &answered) {
		db.downUntil.Store(time.Now().Add(db.backoff).UnixNano())
	}
	return err
}

// ok ends the backoff after a call that reached Redis.
func (db *DB) ok() {
	if db.downUntil.Load() != 0 {
		db.downUntil.Store(0)
	}
}

// up returns ErrUnavailable while Redis is backed off, else nil.
func (db *DB) up() error {
	if until := db.downUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		return ErrUnavailable
	}
	return nil
}

// ms returns d in whole milliseconds, rounded up.
func ms(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// newID returns a random ID for a lease.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
