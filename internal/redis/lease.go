package redis

import (
	"context"
	_ "embed"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

//go:embed renew.lua
var renewSrc string

var renewScript = goredis.NewScript(renewSrc)

// leaseSet is the leases this process holds: members of sorted sets, by key.
type leaseSet struct {
	mu sync.Mutex
	m  map[string]map[string]struct{}
}

func (s *leaseSet) add(key, member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.m[key]
	if ms == nil {
		ms = make(map[string]struct{})
		s.m[key] = ms
	}
	ms[member] = struct{}{}
}

func (s *leaseSet) remove(key, member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m[key], member)
	if len(s.m[key]) == 0 {
		delete(s.m, key)
	}
}

func (s *leaseSet) has(key, member string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[key][member]
	return ok
}

// snapshot returns a copy of the set.
func (s *leaseSet) snapshot() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]string, len(s.m))
	for k, ms := range s.m {
		for m := range ms {
			out[k] = append(out[k], m)
		}
	}
	return out
}

// hold records a lease the process now holds, for renewal.
func (db *DB) hold(key, member string) { db.leases.add(key, member) }

// drop forgets a lease and removes it from Redis. If Redis cannot be
// reached, the lease lapses on its own within the lease TTL.
func (db *DB) drop(key, member string) {
	db.leases.remove(key, member)
	ctx, cancel := context.WithTimeout(context.Background(), db.leaseTTL/3)
	defer cancel()
	if err := db.fail(db.rdb.ZRem(ctx, key, member).Err()); err != nil {
		db.log.Warn("redis: could not release a lease; it lapses on its own", "key", key, "error", err)
	}
}

// renewLoop renews this process's leases every LeaseTTL/3 until Close.
func (db *DB) renewLoop() {
	defer close(db.done)
	tick := time.NewTicker(db.leaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-tick.C:
			db.renew()
		}
	}
}

// renew pushes the expiry of every lease held to now + LeaseTTL, on Redis
// time, putting back any that lapsed while Redis was unreachable: the
// stream or call it stands for is still running.
func (db *DB) renew() {
	leases := db.leases.snapshot()
	if len(leases) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), db.leaseTTL/3)
	defer cancel()
	run := func(eval func(ctx context.Context, c goredis.Scripter, keys []string, args ...any) *goredis.Cmd) error {
		pipe := db.rdb.Pipeline()
		for key, members := range leases {
			args := make([]any, 0, len(members)+1)
			args = append(args, ms(db.leaseTTL))
			for _, m := range members {
				args = append(args, m)
			}
			eval(ctx, pipe, []string{key}, args...)
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	err := run(renewScript.EvalSha)
	if isNoScript(err) {
		// Redis lost its scripts (a restart, SCRIPT FLUSH): send them.
		err = run(renewScript.Eval)
	}
	if err != nil {
		db.fail(err)
		db.log.Warn("redis: could not renew leases", "leases", len(leases), "error", err)
		return
	}
	db.ok()
	// A lease released while the renewal ran was put back: remove it
	// again.
	for key, members := range leases {
		for _, m := range members {
			if !db.leases.has(key, m) {
				db.rdb.ZRem(ctx, key, m)
			}
		}
	}
}

// isNoScript reports whether err is Redis's NOSCRIPT error.
func isNoScript(err error) bool {
	return err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT")
}
