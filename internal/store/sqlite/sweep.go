package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// sweepBatch bounds the rows one sweep statement deletes, so that a large
// backlog of expired rows never holds the write lock for long.
const sweepBatch = 1000

// kvSweep deletes up to a batch of expired rows, across all tenants: expiry
// is the same rule for every tenant and the sweep returns no data.
const kvSweep = `DELETE FROM kv WHERE (tenant, key) IN (
	SELECT tenant, key FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)`

// idempotencySweep deletes up to a batch of expired idempotency records,
// across all tenants.
const idempotencySweep = `DELETE FROM idempotency WHERE (tenant, key) IN (
	SELECT tenant, key FROM idempotency WHERE expires <= ? LIMIT ?)`

// Sweep deletes the KV rows and the idempotency records that have expired
// by Options.Now and returns how many it deleted. The sweeper calls it
// every Options.SweepInterval; reads ignore expired rows whether or not
// they have been swept.
func (db *DB) Sweep(ctx context.Context) (int64, error) {
	if err := db.ready(ctx); err != nil {
		return 0, fmt.Errorf("sqlite: sweep: %w", err)
	}
	now := db.now().UnixMilli()
	var total int64
	for _, stmt := range []*sql.Stmt{db.stmts.kvSweep, db.stmts.idempotencySweep} {
		for {
			res, err := stmt.ExecContext(ctx, now, sweepBatch)
			if err != nil {
				return total, db.fail(ctx, "sweep", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, db.fail(ctx, "sweep", err)
			}
			total += n
			if n < sweepBatch {
				break
			}
		}
	}
	return total, nil
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
				db.logger.Error("sqlite: sweep failed", "err", err, "deleted", n)
			case n > 0:
				db.logger.Debug("sqlite: swept expired kv rows", "deleted", n)
			}
		}
	}()
}
