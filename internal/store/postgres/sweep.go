package postgres

import (
	"context"
	"fmt"
	"time"
)

// sweepBatch bounds the rows one sweep statement deletes, so that a large
// backlog of expired rows never holds many locks for long.
const sweepBatch = 1000

// The sweep's statements run as SweeperRole, whose policies show it the
// rows that expire, of every tenant, and nothing else: expiry is the same
// rule for every tenant and the sweep returns no data.
const (
	kvSweep = `DELETE FROM kv WHERE (tenant, key) IN (
	SELECT tenant, key FROM kv WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)`
	idempotencySweep = `DELETE FROM idempotency WHERE (tenant, key) IN (
	SELECT tenant, key FROM idempotency WHERE expires <= $1 LIMIT $2)`
)

// Sweep deletes the KV rows and the idempotency records that have expired
// by Options.Now and returns how many it deleted. The sweeper calls it
// every Options.SweepInterval; reads ignore expired rows whether or not
// they have been swept. Each batch is a transaction of its own, run as
// SweeperRole.
func (db *DB) Sweep(ctx context.Context) (int64, error) {
	if err := db.ready(ctx); err != nil {
		return 0, fmt.Errorf("postgres: sweep: %w", err)
	}
	now := db.now().UnixMilli()
	var total int64
	for _, query := range []string{kvSweep, idempotencySweep} {
		for {
			n, err := db.sweepBatch(ctx, query, now)
			total += n
			if err != nil {
				return total, db.fail(ctx, "sweep", err)
			}
			if n < sweepBatch {
				break
			}
		}
	}
	return total, nil
}

// sweepBatch runs one batch of a sweep statement as SweeperRole.
func (db *DB) sweepBatch(ctx context.Context, query string, now int64) (int64, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) // a no-op once committed
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+SweeperRole); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, query, now, sweepBatch)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), tx.Commit(ctx)
}

// startSweeper starts the goroutine that calls Sweep every interval. The DB
// owns it: Close cancels it and waits for it to return.
func (db *DB) startSweeper(interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	db.stopSweep = cancel
	db.sweepDone = make(chan struct{})
	go func() {
		defer close(db.sweepDone)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			n, err := db.Sweep(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				db.logger.Error("postgres: sweep failed", "err", err, "deleted", n)
			case n > 0:
				db.logger.Debug("postgres: swept expired rows", "deleted", n)
			}
		}
	}()
}
