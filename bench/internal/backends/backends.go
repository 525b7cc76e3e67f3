// Package backends holds what the benchmark programs pass through to the
// `crispy serve` they start, so that one benchmark measures the embedded
// server (SQLite, limits in memory) or the replicated one (PostgreSQL,
// Redis) alike: the -store, -redis and -redis-prefix flags, given to the
// server as --store, --redis and --redis-prefix, and -limits, a JSON object
// merged into the "limits" of the benchmark's tenants (to configure rate
// limits, so that admission runs, through Redis with -redis, and to raise
// caps that would refuse the load).
package backends

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/url"
	"strings"
)

// Flags are the pass-through flags of a benchmark program.
type Flags struct {
	Store       string // --store: a PostgreSQL URL; empty: SQLite in the data folder
	Redis       string // --redis: a Redis URL; empty: limits in the server's memory
	RedisPrefix string // --redis-prefix; empty: the server's default
	Limits      string // a JSON object merged into the tenants' "limits"; empty: none
}

// Register defines the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Store, "store", "", "PostgreSQL URL given to crispy serve as --store (default: SQLite in the data folder)")
	fs.StringVar(&f.Redis, "redis", "", "Redis URL given to crispy serve as --redis (default: limits in the server's memory)")
	fs.StringVar(&f.RedisPrefix, "redis-prefix", "", "given to crispy serve as --redis-prefix (with -redis)")
	fs.StringVar(&f.Limits, "limits", "", `JSON object merged into the benchmark tenants' "limits", e.g. {"rate":{"tenant":{"requests":1000000,"per":"1s"}}}`)
}

// Validate checks the flags' syntax; the server checks the rest.
func (f Flags) Validate() error {
	var errs []error
	if f.Store != "" {
		if u, err := url.Parse(f.Store); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			errs = append(errs, errors.New("-store: want a postgres:// URL"))
		}
	}
	if f.Redis != "" {
		if u, err := url.Parse(f.Redis); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			errs = append(errs, errors.New("-redis: want a redis:// URL"))
		}
	}
	if f.RedisPrefix != "" && f.Redis == "" {
		errs = append(errs, errors.New("-redis-prefix needs -redis"))
	}
	if _, err := f.limits(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Args returns the arguments to add to `crispy serve`.
func (f Flags) Args() []string {
	var args []string
	if f.Store != "" {
		args = append(args, "--store", f.Store)
	}
	if f.Redis != "" {
		args = append(args, "--redis", f.Redis)
		if f.RedisPrefix != "" {
			args = append(args, "--redis-prefix", f.RedisPrefix)
		}
	}
	return args
}

// Describe names the backends for a report: "SQLite", "PostgreSQL + Redis".
func (f Flags) Describe() string {
	s := "SQLite"
	if f.Store != "" {
		s = "PostgreSQL"
	}
	if f.Redis != "" {
		s += " + Redis"
	}
	return s
}

func (f Flags) limits() (map[string]any, error) {
	if strings.TrimSpace(f.Limits) == "" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(f.Limits), &m); err != nil || m == nil {
		return nil, fmt.Errorf("-limits: want a JSON object: %v", err)
	}
	return m, nil
}

// MergeLimits returns base (a tenant's "limits", possibly nil) with the
// -limits object merged in: objects are merged key by key, anything else
// in -limits replaces what base has. base is not modified.
func (f Flags) MergeLimits(base map[string]any) (map[string]any, error) {
	extra, err := f.limits()
	if err != nil {
		return nil, err
	}
	return merge(base, extra), nil
}

func merge(base, extra map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range extra {
		bm, ok1 := out[k].(map[string]any)
		em, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			out[k] = merge(bm, em)
			continue
		}
		out[k] = v
	}
	return out
}
