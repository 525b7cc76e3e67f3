package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/crispy-enigma/crispy/internal/gateway"
)

var (
	//go:embed hold.lua
	holdSrc    string
	holdScript = goredis.NewScript(holdSrc)
	//go:embed settle.lua
	settleSrc    string
	settleScript = goredis.NewScript(settleSrc)
)

// Budgets is a gateway.BudgetStore in Redis, so that every replica's calls
// count against one set of caps. A counter is two keys in its tenant's
// namespace: its settled usage, and its open reservations as leases that
// this process renews while the call runs and that lapse within the lease
// TTL if the process dies.
type Budgets struct {
	db *DB

	mu     sync.Mutex
	seeded map[string]bool // tenant and period: whether this process seeds them
}

var _ gateway.BudgetStore = (*Budgets)(nil)

// NewBudgets returns a Budgets over db.
func NewBudgets(db *DB) *Budgets {
	return &Budgets{db: db, seeded: make(map[string]bool)}
}

// keys returns the keys of c's settled usage and open reservations.
func (b *Budgets) keys(c gateway.Counter) (used, held string) {
	scope := "t"
	if c.Key != "" {
		scope = "k:" + c.Key
	}
	base := b.db.key(c.Tenant, "b:"+c.Period+":"+c.Metric.String()+":"+scope)
	return base + ":used", base + ":held"
}

// seededKey is the mark that c's tenant and period hold the ledger's
// usage: set by the first seed, or by the first settlement, which the
// ledger records too.
func (b *Budgets) seededKey(c gateway.Counter) string {
	return b.db.key(c.Tenant, "b:"+c.Period+":seeded")
}

// Hold implements gateway.BudgetStore.
func (b *Budgets) Hold(ctx context.Context, id string, holds []gateway.Hold) (gateway.HoldResult, error) {
	if len(holds) == 0 {
		return gateway.HoldResult{Held: true}, nil
	}
	if err := b.db.up(); err != nil {
		return gateway.HoldResult{}, err
	}
	keys := make([]string, 0, 2*len(holds))
	args := make([]any, 0, 2+2*len(holds))
	args = append(args, ms(b.db.leaseTTL), id)
	for _, h := range holds {
		used, held := b.keys(h.Counter)
		keys = append(keys, used, held)
		args = append(args, h.Limit, h.Amount)
	}
	v, err := holdScript.Run(ctx, b.db.rdb, keys, args...).Int64Slice()
	if err != nil {
		if ctx.Err() != nil {
			return gateway.HoldResult{}, ctx.Err()
		}
		b.db.fail(err)
		b.db.log.Error("redis: budgets cannot be checked; call refused", "tenant", holds[0].Counter.Tenant, "error", err)
		return gateway.HoldResult{}, fmt.Errorf("redis: budget hold: %w", err)
	}
	b.db.ok()
	switch {
	case len(v) == 1 && v[0] == 1:
		for _, h := range holds {
			_, held := b.keys(h.Counter)
			b.db.hold(held, member(id, h.Amount))
		}
		return gateway.HoldResult{Held: true}, nil
	case len(v) == 4 && v[0] == 0 && v[1] >= 0 && int(v[1]) < len(holds):
		return gateway.HoldResult{Refused: int(v[1]), Used: v[2], Reserved: v[3]}, nil
	}
	return gateway.HoldResult{}, fmt.Errorf("redis: budget hold: unexpected answer %v", v)
}

// Settle implements gateway.BudgetStore. If Redis cannot be reached the
// usage is not counted here (the ledger still has it) and the reservation
// lapses within the lease TTL.
func (b *Budgets) Settle(ctx context.Context, id string, ss []gateway.Settlement) error {
	if len(ss) == 0 {
		return nil
	}
	keys := make([]string, 0, 3*len(ss))
	args := make([]any, 0, 1+3*len(ss))
	args = append(args, id)
	now := time.Now()
	for _, s := range ss {
		used, held := b.keys(s.Counter)
		keys = append(keys, used, held, b.seededKey(s.Counter))
		args = append(args, s.Held, s.Used, ms(counterTTL(s.Counter.Period, now)))
		b.db.leases.remove(held, member(id, s.Held))
	}
	if err := settleScript.Run(ctx, b.db.rdb, keys, args...).Err(); err != nil {
		b.db.fail(err)
		b.db.log.Error("redis: a budget reservation could not be settled; it lapses on its own", "tenant", ss[0].Counter.Tenant, "error", err)
		return fmt.Errorf("redis: budget settle: %w", err)
	}
	return nil
}

// Seed implements gateway.BudgetStore. Every replica seeds its budgets
// from the ledger when it starts, but the counters in Redis already hold
// what the running replicas settled: usage is added only by the first
// process to seed a tenant's period (a key set with SET NX, which expires
// with the period's counters), so it is counted once. A settlement sets
// the same key, so a replica that starts after usage was settled in a
// period (a tenant with no usage when the others started, a new day) adds
// nothing either. If Redis loses its data, the next replica to start seeds
// again.
func (b *Budgets) Seed(ctx context.Context, c gateway.Counter, n int64) error {
	now := time.Now()
	ttl := counterTTL(c.Period, now)
	claim := c.Tenant + "\x00" + c.Period
	b.mu.Lock()
	defer b.mu.Unlock()
	mine, asked := b.seeded[claim]
	if !asked {
		ok, err := b.db.rdb.SetNX(ctx, b.seededKey(c), "1", ttl).Result()
		if err != nil {
			b.db.fail(err)
			return fmt.Errorf("redis: budget seed: %w", err)
		}
		mine = ok
		b.seeded[claim] = ok
	}
	if !mine {
		return nil
	}
	used, _ := b.keys(c)
	pipe := b.db.rdb.TxPipeline()
	pipe.IncrBy(ctx, used, n)
	pipe.PExpire(ctx, used, ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		b.db.fail(err)
		return fmt.Errorf("redis: budget seed: %w", err)
	}
	return nil
}

// Used implements gateway.BudgetStore.
func (b *Budgets) Used(ctx context.Context, c gateway.Counter) (int64, error) {
	used, _ := b.keys(c)
	n, err := b.db.rdb.Get(ctx, used).Int64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		b.db.fail(err)
		return 0, fmt.Errorf("redis: budget usage: %w", err)
	}
	return n, nil
}

// member is the reservation set's member for id holding amount.
func member(id string, amount int64) string {
	return id + "|" + strconv.FormatInt(amount, 10)
}

// counterTTL is how long a counter of period must live from now: until a
// day after the period ends, so that a replica whose clock is a little
// behind still finds it. An unknown period gets 32 days.
func counterTTL(period string, now time.Time) time.Duration {
	var end time.Time
	if len(period) > 1 {
		switch period[0] {
		case 'd':
			if d, err := time.Parse("2006-01-02", period[1:]); err == nil {
				end = d.AddDate(0, 0, 1)
			}
		case 'm':
			if m, err := time.Parse("2006-01", period[1:]); err == nil {
				end = m.AddDate(0, 1, 0)
			}
		}
	}
	if end.IsZero() {
		return 32 * 24 * time.Hour
	}
	return max(end.Add(24*time.Hour).Sub(now), time.Hour)
}
