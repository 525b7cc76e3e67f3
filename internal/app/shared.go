package app

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/redis"
	"github.com/crispy-enigma/crispy/internal/store"
)

// shared is what replicas must agree on from one request to the next:
// rate limits, open-stream slots and budgets (in this process, or in Redis
// with --redis), the tenant cache (in the store, or in Redis), and the
// health of the store they share.
type shared struct {
	limiter *ratelimit.Limiter
	// cache holds the tenant cache: completions, embeddings and search
	// answers, keyed by tenant (and corpus version, for answers grounded
	// in a knowledge base).
	cache   store.KV
	streams ratelimit.StreamSlots
	budgets *gateway.Budgets
	// storageUp reports a shared store's last health check; nil on SQLite.
	storageUp func() error
	// redisPing is the Redis that /health reports; nil without Redis.
	redisPing store.Pinger
}

// openShared starts checking a shared store's health and, with --redis,
// connects to Redis for limits, stream slots, budgets and the tenant cache;
// without it the first three are kept in this process and the cache in the
// store.
func (a *App) openShared(ctx context.Context) (shared, error) {
	var s shared
	if a.cfg.Store != "" {
		a.health = newStoreHealth(a.db, a.log, storeCheckInterval, storeCheckTimeout)
		s.storageUp = a.health.Up
	}
	if a.cfg.Redis == "" {
		s.limiter = ratelimit.New(ratelimit.NewMemory())
		s.streams = &ratelimit.Streams{}
		s.budgets = gateway.NewBudgets(nil)
		s.cache = a.db.KV()
		return s, nil
	}
	errs := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "crispy_redis_errors_total",
		Help: "Calls to Redis that failed (limits then admit per replica, budgets refuse with 503).",
	})
	if err := a.metrics.Registry.Register(errs); err != nil {
		return s, fmt.Errorf("redis metric: %w", err)
	}
	db, err := redis.Open(ctx, a.cfg.Redis, redis.Options{
		Prefix:   a.cfg.RedisPrefix,
		LeaseTTL: a.cfg.RedisLeaseTTL,
		Logger:   a.log,
		OnError:  func(error) { errs.Inc() },
	})
	if err != nil {
		if a.health != nil {
			a.health.Close()
		}
		return s, fmt.Errorf("open redis %s: %w", config.Redact(a.cfg.Redis), err)
	}
	a.redis = db
	a.log.Info("limits, stream slots, budgets and the tenant cache in Redis", "redis", config.Redact(a.cfg.Redis), "prefix", a.cfg.RedisPrefix)
	// While Redis is out of reach each replica holds tenants to their
	// limits with buckets of its own: limits per replica, not none.
	var lastLog atomic.Int64
	s.limiter = ratelimit.New(&ratelimit.Fallback{
		Primary: redis.NewLimits(db, redis.LimitsOptions{}),
		Local:   ratelimit.NewMemory(),
		OnFallback: func(err error) {
			a.metrics.RateLimitErrors.Inc()
			if now := time.Now().UnixNano(); now-lastLog.Load() > int64(10*time.Second) {
				lastLog.Store(now)
				a.log.Warn("Redis unreachable: rate limits are held per replica until it answers", "error", err)
			}
		},
	})
	s.streams = redis.NewStreams(db)
	s.budgets = gateway.NewBudgetsWithStore(redis.NewBudgets(db), nil)
	s.cache = redis.NewKV(db)
	s.redisPing = db
	return s, nil
}

// closeStores stops the health checks and closes Redis and the store.
func (a *App) closeStores() error {
	if a.health != nil {
		a.health.Close()
	}
	var errs []error
	if a.redis != nil {
		errs = append(errs, a.redis.Close())
	}
	errs = append(errs, a.db.Close())
	return errors.Join(errs...)
}
