package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/bench/internal/backends"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// mode is where a server keeps its state.
type mode string

const (
	modeSQLite        mode = "sqlite"         // the embedded server
	modeSQLiteRedis   mode = "sqlite+redis"   // limits, slots and budgets in Redis
	modePostgres      mode = "postgres"       // the store in PostgreSQL, limits in memory
	modePostgresRedis mode = "postgres+redis" // the replicated server
)

// modeOrder is the order of the table's columns.
var modeOrder = []mode{modeSQLite, modeSQLiteRedis, modePostgres, modePostgresRedis}

func (m mode) postgres() bool { return strings.HasPrefix(string(m), "postgres") }
func (m mode) redis() bool    { return strings.HasSuffix(string(m), "+redis") }

// parseModes parses a comma-separated list of modes, each once.
func parseModes(s string) ([]mode, error) {
	var out []mode
	for f := range strings.SplitSeq(s, ",") {
		m := mode(strings.TrimSpace(f))
		if !slices.Contains(modeOrder, m) {
			return nil, fmt.Errorf("%q is not one of sqlite, sqlite+redis, postgres, postgres+redis", m)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no mode")
	}
	return out, nil
}

// env is the backends of one mode: its database and key prefix, made for
// the run.
type env struct {
	mode   mode
	dsn    string // the mode's own database; empty for SQLite
	db     string // its name
	redis  string // Redis URL; empty without Redis
	prefix string // the mode's Redis key prefix
}

// flags returns what the benchmark programs pass to `crispy serve`, with
// limits, a JSON object, merged into their tenants' limits.
func (e env) flags(limits string) backends.Flags {
	f := backends.Flags{Store: e.dsn, Limits: limits}
	if e.redis != "" {
		f.Redis, f.RedisPrefix = e.redis, e.prefix
	}
	return f
}

// serveArgs are the backend arguments of `crispy serve`.
func (e env) serveArgs() []string { return e.flags("").Args() }

func randomName(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// backendSet makes and removes the modes' databases and key prefixes.
type backendSet struct {
	admin    string // the superuser's DSN
	redisURL string
	rdb      *goredis.Client
	envs     map[mode]*env
}

// newBackendSet makes a database and a key prefix for every mode that
// needs one; close removes them.
func newBackendSet(ctx context.Context, admin, redisURL string, modes []mode) (*backendSet, error) {
	s := &backendSet{admin: admin, redisURL: redisURL, envs: map[mode]*env{}}
	for _, m := range modes {
		e := &env{mode: m}
		s.envs[m] = e
		if m.redis() {
			if s.rdb == nil {
				o, err := goredis.ParseURL(redisURL)
				if err != nil {
					return s, fmt.Errorf("-redis: %w", err)
				}
				s.rdb = goredis.NewClient(o)
				if err := s.rdb.Ping(ctx).Err(); err != nil {
					return s, fmt.Errorf("redis %s: %w", redisURL, err)
				}
			}
			e.redis, e.prefix = redisURL, "crispy_bench_"+randomName(6)+":"
		}
		if m.postgres() {
			name := "crispy_bench_" + randomName(6)
			if err := s.exec(ctx, "CREATE DATABASE "+name); err != nil {
				return s, fmt.Errorf("create database: %w", err)
			}
			e.db = name
			dsn, err := withDatabase(admin, name)
			if err != nil {
				return s, err
			}
			e.dsn = dsn
		}
		logf("mode %s: database %q, Redis prefix %q", m, e.db, e.prefix)
	}
	return s, nil
}

// exec runs one statement as the superuser, on a connection of its own.
func (s *backendSet) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql)
	return err
}

// redisKeys counts the keys under prefix that match pattern (after the
// prefix), or all of them for "*".
func (s *backendSet) redisKeys(ctx context.Context, prefix, pattern string) (int, error) {
	n := 0
	iter := s.rdb.Scan(ctx, 0, prefix+pattern, 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	return n, iter.Err()
}

// close drops the databases and deletes the keys, whatever ctx says.
func (s *backendSet) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for _, m := range modeOrder {
		e := s.envs[m]
		if e == nil {
			continue
		}
		if e.db != "" {
			if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+e.db+" WITH (FORCE)"); err != nil {
				errs = append(errs, fmt.Errorf("drop database %s: %w", e.db, err))
			} else {
				logf("mode %s: dropped database %s", m, e.db)
			}
		}
		if e.prefix != "" && s.rdb != nil {
			n := 0
			iter := s.rdb.Scan(ctx, 0, e.prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				if err := s.rdb.Del(ctx, iter.Val()).Err(); err != nil {
					errs = append(errs, err)
					break
				}
				n++
			}
			if err := iter.Err(); err != nil {
				errs = append(errs, fmt.Errorf("redis: delete %s*: %w", e.prefix, err))
			} else {
				logf("mode %s: deleted %d Redis keys under %s", m, n, e.prefix)
			}
		}
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	return errors.Join(errs...)
}

// withDatabase returns dsn (a URL or key=value pairs) naming database name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("-postgres: %w", err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return "", errors.New("-postgres: want a postgres:// URL (crispy serve --store takes a URL)")
}

// childEnv is this process's environment without the CRISPY_ variables,
// which `crispy serve` would take as flags (a CRISPY_STORE would move a
// SQLite mode to PostgreSQL), plus extra.
func childEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CRISPY_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}
