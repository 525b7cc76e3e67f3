package redis

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

var (
	//go:embed acquire.lua
	acquireSrc    string
	acquireScript = goredis.NewScript(acquireSrc)
)

// acquireTimeout bounds taking a slot, which has no caller's context.
const acquireTimeout = time.Second

// Streams caps the streams each tenant has open at once across every
// replica that shares the Redis (limits.rate.concurrentStreams). Each open
// stream holds a slot: a lease this process renews while the stream lives,
// so that the slots of a replica that dies lapse within the lease TTL.
//
// When Redis cannot be reached, Acquire caps streams within this process
// instead, with the same limit (so N replicas admit up to N times it), and
// logs and counts the failure; the next Acquire tries Redis again.
type Streams struct {
	db    *DB
	local ratelimit.Streams // while Redis is unreachable
}

var _ ratelimit.StreamSlots = (*Streams)(nil)

// NewStreams returns a Streams over db.
func NewStreams(db *DB) *Streams {
	return &Streams{db: db}
}

// Acquire implements ratelimit.StreamSlots.
func (s *Streams) Acquire(t tenant.ID, limit int) (release func(), ok bool) {
	if t.IsZero() {
		return func() {}, false
	}
	key := s.db.key(t.String(), "streams")
	id := newID()
	ctx, cancel := context.WithTimeout(context.Background(), acquireTimeout)
	defer cancel()
	err := s.db.up()
	var n int
	if err == nil {
		n, err = acquireScript.Run(ctx, s.db.rdb, []string{key}, limit, ms(s.db.leaseTTL), id).Int()
	}
	if err != nil {
		s.db.fail(err)
		s.db.log.Error("redis: stream slots unavailable; capping streams per replica", "tenant", t.String(), "error", err)
		return s.local.Acquire(t, limit)
	}
	s.db.ok()
	if n != 1 {
		return func() {}, false
	}
	s.db.hold(key, id)
	var once sync.Once
	return func() { once.Do(func() { s.db.drop(key, id) }) }, true
}

// Open returns the number of slots tenant t holds across all replicas.
func (s *Streams) Open(ctx context.Context, t tenant.ID) (int, error) {
	now, err := s.db.rdb.Time(ctx).Result()
	if err != nil {
		return 0, fmt.Errorf("redis: open streams: %w", s.db.fail(err))
	}
	n, err := s.db.rdb.ZCount(ctx, s.db.key(t.String(), "streams"), "("+strconv.FormatInt(now.UnixMilli(), 10), "+inf").Result()
	if err != nil {
		return 0, fmt.Errorf("redis: open streams: %w", s.db.fail(err))
	}
	return int(n), nil
}
